-- $1 execution id, $2 the batch's file keys (text[]), $3 how many bytes of uploaded
-- content to return at most. Everything a batch needs, in one round trip: one row per
-- file in batch order with the execution's status and workflow, whether the file
-- already has a result (an earlier delivery recorded it), and, for an uploaded file
-- (key blob:<id>) not yet done, the blob's name, whether it is still stored, and its
-- content as hex (encode, whatever the server's bytea_output) while the batch's blobs
-- so far fit in $3 bytes; a larger one's content is NULL here and read on its own
-- (blobs_get.sql), so a batch of big files never sits in memory at once. No row at
-- all: the execution is unknown (or the batch is empty).
-- Every lookup is one primary-key probe per file: a LATERAL subquery with LIMIT 1 stays
-- a parameterized probe in a generic plan, where EXISTS may become a hashed subplan
-- that reads every result of the execution per batch (quadratic in its size), and a
-- plain join may hash the whole blobs table.
SELECT e.status, e.workflow, u.key, d.done IS NOT NULL, b.name,
       CASE WHEN sum(b.size) OVER (ORDER BY u.ord) <= $3::bigint
            THEN encode(b.content, 'hex') END,
       b.name IS NOT NULL
FROM postbox.executions e
CROSS JOIN unnest($2::text[]) WITH ORDINALITY AS u(key, ord)
LEFT JOIN LATERAL (
  SELECT true AS done FROM postbox.file_results r
  WHERE r.execution_id = $1 AND r.file_key = u.key
  LIMIT 1
) d ON true
LEFT JOIN LATERAL (
  SELECT bl.name, bl.size, bl.content FROM postbox.blobs bl
  WHERE d.done IS NULL AND u.key LIKE 'blob:%' AND bl.id = substr(u.key, 6)
  LIMIT 1
) b ON true
WHERE e.id = $1
ORDER BY u.ord
