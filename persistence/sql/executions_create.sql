-- $1 id, $2 org, $3 workflow, $4 batch_size, $5 files_total, $6 headers. Creating twice is a no-op.
INSERT INTO postbox.executions (id, org, workflow, batch_size, files_total, headers)
VALUES ($1, $2, $3, $4, $5, $6::jsonb)
ON CONFLICT (id) DO NOTHING
RETURNING id
