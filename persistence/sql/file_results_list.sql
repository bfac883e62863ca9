SELECT file_key, status, result::text, error FROM postbox.file_results
WHERE execution_id = $1 ORDER BY file_key LIMIT $2
