-- Extends the lease of a delivery still held under receipt $2. A row locked by a
-- transaction acking it right now is skipped, never waited for: a renewal must
-- not stall behind the node's own workers (the caller checks mailbox_held then).
WITH held AS (
  SELECT id FROM postbox.mailbox WHERE id = $1 AND receipt = $2 FOR UPDATE SKIP LOCKED
)
UPDATE postbox.mailbox m SET visible_at = now() + $3::bigint * interval '1 millisecond'
FROM held WHERE m.id = held.id
