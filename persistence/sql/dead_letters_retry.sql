-- Re-enqueues dead letter $1 as a new message (fresh read count, same identity,
-- payload and headers) and records it; the dead letter itself is kept (at its tier). A request
-- (reply_key header) loses the error reply its dead letter stored, so the retried
-- message can answer; a message to an actor goes to the end of its actor's line; a success reply is never removed (the first reply stands).
-- A dead letter with a dedup key re-acquires it (migration 023): while a live message
-- holds the key nothing is sent, nothing is cleared and no row is returned (the caller
-- reports the holder, dead_letters_dedup_holder.sql).
WITH dl AS (
  SELECT * FROM postbox.dead_letters WHERE id = $1 AND retried_at IS NULL FOR UPDATE
), sent AS (
  INSERT INTO postbox.mailbox (queue, type, execution_id, org, payload, headers, actor_type,
                               actor_key, dedup_key, limit_key, priority)
  SELECT queue, type, execution_id, org, payload, headers, actor_type, actor_key, dedup_key,
         limit_key, COALESCE(priority, 1)
  FROM dl
  ON CONFLICT (queue, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
  RETURNING id
), cleared AS (
  DELETE FROM postbox.replies r USING dl
  WHERE jsonb_typeof(dl.headers) = 'object' AND r.reply_key = dl.headers->>'reply_key'
    AND r.status = 'error' AND EXISTS (SELECT 1 FROM sent)
)
UPDATE postbox.dead_letters d SET retried_at = now(), retried_as = sent.id
FROM sent WHERE d.id = $1
RETURNING sent.id
