-- mailbox_nack.sql for a caller that must never wait on a row lock (the consumer's
-- thread): a row another transaction holds is skipped. Returns whether it was given
-- back, and whether the delivery is still held under receipt $2 (false + true: locked;
-- false + false: the lease is lost). The EXISTS sees the row as it was before the UPDATE.
WITH held AS (
  SELECT id FROM postbox.mailbox WHERE id = $1 AND receipt = $2 FOR UPDATE SKIP LOCKED
), given AS (
  UPDATE postbox.mailbox m
  SET visible_at = now() + $3::bigint * interval '1 millisecond',
      receipt = NULL, lease_owner = NULL, alone_on = NULL, last_error = $4,
      suspect = m.suspect AND m.alone_on IS NULL
  FROM held WHERE m.id = held.id
  RETURNING m.id
)
SELECT EXISTS (SELECT 1 FROM given),
       EXISTS (SELECT 1 FROM postbox.mailbox WHERE id = $1 AND receipt = $2)
