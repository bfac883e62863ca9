-- Operator's drop: every queued message of the blocked actor ($1, $2), its head and its
-- parked backlog, under fresh receipts held by $3, to be dead-lettered together in one
-- transaction. The parked ones stay parked (visible_at 'infinity'), so nothing claims
-- them meanwhile; a message sent after this is not taken and becomes the next head.
-- No row: the actor is not blocked.
WITH a AS (
  SELECT actor_type, actor_key FROM postbox.actors
  WHERE actor_type = $1 AND actor_key = $2 AND blocked_at IS NOT NULL
  FOR UPDATE
)
UPDATE postbox.mailbox m
SET receipt = nextval('postbox.receipt_seq'), lease_owner = $3
FROM a
WHERE m.actor_type = a.actor_type AND m.actor_key = a.actor_key
RETURNING m.id, m.receipt, m.queue, m.type, m.execution_id, m.org, m.payload::text,
          m.headers::text, m.read_ct, m.last_error,
          extract(epoch FROM m.enqueued_at)::float8 AS enqueued_epoch,
          m.attempts, m.suspect, m.actor_type, m.actor_key, NULL::bigint
