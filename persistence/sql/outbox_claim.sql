-- Takes up to $1 due rows of the kinds $4 for delivery by $3; they are not due again
-- for $2 ms (a dispatcher that dies mid-POST hands them on). attempts is the fencing
-- token. A kind the dispatcher has nowhere to send is not taken: it stays pending.
WITH due AS (
  SELECT id FROM postbox.outbox
  WHERE state = 'pending' AND next_attempt_at <= now() AND kind = ANY ($4::text[])
  ORDER BY next_attempt_at, id
  LIMIT $1
  FOR UPDATE SKIP LOCKED
)
UPDATE postbox.outbox o
SET attempts = o.attempts + 1,
    next_attempt_at = now() + $2::bigint * interval '1 millisecond',
    lease_owner = $3
FROM due
WHERE o.id = due.id
RETURNING o.id, o.execution_id, o.kind, o.payload::text, o.attempts
