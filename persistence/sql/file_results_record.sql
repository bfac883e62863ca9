-- One row per (execution, file): a redelivered batch never records a file twice.
INSERT INTO postbox.file_results (execution_id, file_key, batch_index, status, result, error)
VALUES ($1, $2, $3, $4, $5::jsonb, $6)
ON CONFLICT (execution_id, file_key) DO NOTHING
