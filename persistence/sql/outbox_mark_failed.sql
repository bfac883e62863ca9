-- A failed attempt: retried after $3 ms, or 'failed' for good after $4 attempts.
UPDATE postbox.outbox
SET state = CASE WHEN attempts >= $4 THEN 'failed' ELSE 'pending' END,
    next_attempt_at = now() + $3::bigint * interval '1 millisecond',
    last_error = $5
WHERE id = $1 AND attempts = $2 AND state = 'pending'
RETURNING state
