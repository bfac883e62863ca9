-- $1 message ids, $2 their receipts (bigint[] each), $3 the visibility timeout in ms.
-- Extends every lease of a consumer in one statement. A row locked by the transaction
-- acking it right now is skipped, never waited for (see mailbox_renew.sql); it is still
-- held. Returns the ids no longer held under their receipt (or whose limit slot another
-- claim took, see mailbox_held.sql): those leases are lost.
WITH wanted AS (
  SELECT * FROM unnest($1::bigint[], $2::bigint[]) AS w(id, receipt)
), held AS (
  SELECT m.id FROM postbox.mailbox m JOIN wanted w ON m.id = w.id AND m.receipt = w.receipt
  WHERE true
    -- A row that holds limit slots (migration 025) renews only while it still holds the
    -- slot of each of its limits: once a slot's lease ended and another claim took it, the
    -- old holder's lease is lost (else max_in_flight would be exceeded).
    AND postbox.holds_its_slots(m.id, m.receipt, m.queue, m.limit_key, m.limit_held)
  FOR UPDATE OF m SKIP LOCKED
), renewed AS (
  UPDATE postbox.mailbox m SET visible_at = now() + $3::bigint * interval '1 millisecond'
  FROM held WHERE m.id = held.id
  RETURNING m.id
)
SELECT w.id FROM wanted w
WHERE NOT EXISTS (SELECT 1 FROM renewed r WHERE r.id = w.id)
  AND NOT EXISTS (SELECT 1 FROM postbox.mailbox m WHERE m.id = w.id AND m.receipt = w.receipt
                  AND postbox.holds_its_slots(m.id, m.receipt, m.queue, m.limit_key, m.limit_held))
