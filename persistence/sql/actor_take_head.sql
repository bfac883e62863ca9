-- Operator: the blocked head of actor ($1, $2) as a delivery (a fresh receipt held by
-- $3), to be dead-lettered through the poison path (skip) or dropped. Locks the head's
-- row (as a delivery's ack does, before the actors row). No row: not blocked.
UPDATE postbox.mailbox m
SET receipt = nextval('postbox.receipt_seq'), lease_owner = $3
FROM postbox.actors a
WHERE a.actor_type = $1 AND a.actor_key = $2 AND a.blocked_at IS NOT NULL AND m.id = a.head_id
RETURNING m.id, m.receipt, m.queue, m.type, m.execution_id, m.org, m.payload::text,
          m.headers::text, m.read_ct, m.last_error,
          extract(epoch FROM m.enqueued_at)::float8 AS enqueued_epoch,
          m.attempts, m.suspect, m.actor_type, m.actor_key, NULL::bigint
