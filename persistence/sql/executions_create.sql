-- $1 id, $2 org, $3 workflow, $4 batch_size, $5 files_total. Creating twice is a no-op.
INSERT INTO postbox.executions (id, org, workflow, batch_size, files_total)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (id) DO NOTHING
RETURNING id
