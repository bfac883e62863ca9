-- mailbox_fail.sql for a caller that must never wait on a row lock (the consumer's
-- thread, which claims and renews for the whole queue): a row another transaction
-- holds (a stuck handler's ack waiting behind a cancel, an operator's session) is
-- skipped, not waited for. Returns the attempts so far (NULL: not failed) and whether
-- the delivery is still held under receipt $2 (so NULL + true: locked, try again later;
-- NULL + false: the lease is lost). The EXISTS sees the row as it was before the UPDATE.
WITH held AS (
  SELECT id FROM postbox.mailbox WHERE id = $1 AND receipt = $2 FOR UPDATE SKIP LOCKED
), failed AS (
  UPDATE postbox.mailbox m
  SET visible_at = now() + $3::bigint * interval '1 millisecond',
      receipt = NULL, lease_owner = NULL, alone_on = NULL, suspect = false,
      attempts = m.attempts + 1, last_error = $4
  FROM held WHERE m.id = held.id
  RETURNING m.attempts
)
SELECT (SELECT attempts FROM failed),
       EXISTS (SELECT 1 FROM postbox.mailbox WHERE id = $1 AND receipt = $2)
