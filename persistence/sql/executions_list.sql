-- Newest first; $1 status filter or NULL, $2 workflow filter or NULL, $3 limit.
SELECT id, org, workflow, status, batch_size, files_total, files_done, files_failed, error,
       extract(epoch FROM created_at)::float8, extract(epoch FROM updated_at)::float8
FROM postbox.executions
WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR workflow = $2)
ORDER BY created_at DESC, id
LIMIT $3
