SELECT id, org, workflow, status, batch_size, files_total, files_done, files_failed, error,
       extract(epoch FROM created_at)::float8, extract(epoch FROM updated_at)::float8
FROM postbox.executions WHERE id = $1
