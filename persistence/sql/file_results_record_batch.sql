-- $1 execution id, $2 batch index, then one element per file: $3 keys, $4 statuses
-- ('done' | 'failed'), $5 results (JSON text, NULL when failed), $6 errors (NULL when
-- done), all text[]. One multi-row insert: a batch's results commit in the ack's
-- transaction (or in one checkpoint), never one commit per file. One row per
-- (execution, file): a redelivered batch never records a file twice. Only while the
-- execution runs: the transaction holds the execution's fence (shared) first, so a
-- transaction making the execution terminal (and counting its results) either has
-- committed, and this statement sees it and records nothing, or waits for this one
-- and counts what it records.
INSERT INTO postbox.file_results (execution_id, file_key, batch_index, status, result, error)
SELECT $1, f.key, $2::int, f.status, f.result::jsonb, f.error
FROM unnest($3::text[], $4::text[], $5::text[], $6::text[]) AS f(key, status, result, error)
WHERE EXISTS (SELECT 1 FROM postbox.executions
              WHERE id = $1 AND status IN ('QUEUED', 'EXECUTING'))
ON CONFLICT (execution_id, file_key) DO NOTHING
