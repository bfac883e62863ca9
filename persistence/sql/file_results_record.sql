-- One row per (execution, file): a redelivered batch never records a file twice.
-- Only while the execution runs: once it is terminal (completed, failed, stopped)
-- its counts are final and nothing more of it commits.
INSERT INTO postbox.file_results (execution_id, file_key, batch_index, status, result, error)
SELECT $1, $2, $3, $4, $5::jsonb, $6
WHERE EXISTS (SELECT 1 FROM postbox.executions
              WHERE id = $1 AND status IN ('QUEUED', 'EXECUTING'))
ON CONFLICT (execution_id, file_key) DO NOTHING
