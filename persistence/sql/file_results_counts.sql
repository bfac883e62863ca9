SELECT count(*) FILTER (WHERE status = 'done'), count(*) FILTER (WHERE status = 'failed')
FROM postbox.file_results WHERE execution_id = $1
