-- $1 execution id, $2 the batch's file keys (text[]). Everything a batch needs, in one
-- round trip: one row per file in batch order with the execution's status and workflow,
-- whether the file already has a result (an earlier delivery recorded it), and, for an
-- uploaded file (key blob:<id>) not yet done, the blob's name, content and whether it
-- is still stored. No row at all: the execution is unknown (or the batch is empty).
-- Every lookup is one primary-key probe per file: a LATERAL subquery with LIMIT 1 stays
-- a parameterized probe in a generic plan, where EXISTS may become a hashed subplan
-- that reads every result of the execution per batch (quadratic in its size), and a
-- plain join may hash the whole blobs table.
SELECT e.status, e.workflow, u.key, d.done IS NOT NULL, b.name, b.content, b.name IS NOT NULL
FROM postbox.executions e
CROSS JOIN unnest($2::text[]) WITH ORDINALITY AS u(key, ord)
LEFT JOIN LATERAL (
  SELECT true AS done FROM postbox.file_results r
  WHERE r.execution_id = $1 AND r.file_key = u.key
  LIMIT 1
) d ON true
LEFT JOIN LATERAL (
  SELECT bl.name, bl.content FROM postbox.blobs bl
  WHERE d.done IS NULL AND u.key LIKE 'blob:%' AND bl.id = substr(u.key, 6)
  LIMIT 1
) b ON true
WHERE e.id = $1
ORDER BY u.ord
