-- Extends the lease of a delivery still held under receipt $2. A row locked by a
-- transaction acking it right now is skipped, never waited for: a renewal must
-- not stall behind the node's own workers (the caller checks mailbox_held then).
WITH held AS (
  SELECT mb.id FROM postbox.mailbox mb
  WHERE mb.id = $1 AND mb.receipt = $2
    -- A row that holds limit slots (migration 025) renews only while it still holds the
    -- slot of each of its limits: once a slot's lease ended and another claim took it, the
    -- old holder's lease is lost (else max_in_flight would be exceeded).
    AND postbox.holds_its_slots(mb.id, mb.receipt, mb.queue, mb.limit_key, mb.limit_held)
  FOR UPDATE OF mb SKIP LOCKED
)
UPDATE postbox.mailbox m SET visible_at = now() + $3::bigint * interval '1 millisecond'
FROM held WHERE m.id = held.id
