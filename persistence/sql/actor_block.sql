-- on_poison 'hold': the poisoned head $1 (under receipt $2) stays the head but is parked
-- again, its receipt cleared (the holder's renewal and ack are refused from now on),
-- and its actor is blocked with the reason $3 until an operator retries, skips or
-- drops it. No row: the receipt is stale.
WITH m AS (
  UPDATE postbox.mailbox SET visible_at = 'infinity', receipt = NULL, last_error = $3
  WHERE id = $1 AND receipt = $2 AND actor_key IS NOT NULL
  RETURNING id, actor_type, actor_key
)
UPDATE postbox.actors a
SET blocked_at = now(), blocked_reason = $3, updated_at = now()
FROM m
WHERE a.actor_type = m.actor_type AND a.actor_key = m.actor_key
RETURNING a.actor_type
