-- Re-enqueues dead letter $1 as a new message (fresh read count, same identity,
-- payload and headers) and records it; the dead letter itself is kept.
WITH dl AS (
  SELECT * FROM postbox.dead_letters WHERE id = $1 AND retried_at IS NULL FOR UPDATE
), sent AS (
  INSERT INTO postbox.mailbox (queue, type, execution_id, org, payload, headers)
  SELECT queue, type, execution_id, org, payload, headers FROM dl
  RETURNING id
)
UPDATE postbox.dead_letters d SET retried_at = now(), retried_as = sent.id
FROM sent WHERE d.id = $1
RETURNING sent.id
