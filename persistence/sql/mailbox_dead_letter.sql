-- Moves the whole row (identity, payload, headers, actor, dedup key, limit key,
-- priority) to dead_letters with the reason.
-- The head of an actor: its next message becomes the head (trigger, migration 019).
WITH moved AS (
  DELETE FROM postbox.mailbox WHERE id = $1 AND receipt = $2 RETURNING *
)
INSERT INTO postbox.dead_letters (message_id, queue, type, execution_id, org, payload, headers,
                                  enqueued_at, read_ct, attempts, last_error, reason, dead_by,
                                  actor_type, actor_key, dedup_key, limit_key, priority)
SELECT id, queue, type, execution_id, org, payload, headers, enqueued_at, read_ct, attempts,
       last_error, $3, lease_owner, actor_type, actor_key, dedup_key, limit_key, priority
FROM moved
RETURNING id
