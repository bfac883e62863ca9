-- The failed files of execution $1 with their errors, at most $2.
SELECT file_key, batch_index, COALESCE(error, '')
FROM postbox.file_results WHERE execution_id = $1 AND status = 'failed'
ORDER BY file_key LIMIT $2
