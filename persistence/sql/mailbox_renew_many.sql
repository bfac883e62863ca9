-- $1 message ids, $2 their receipts (bigint[] each), $3 the visibility timeout in ms.
-- Extends every lease of a consumer in one statement. A row locked by the transaction
-- acking it right now is skipped, never waited for (see mailbox_renew.sql); it is still
-- held. Returns the ids no longer held under their receipt: those leases are lost.
WITH wanted AS (
  SELECT * FROM unnest($1::bigint[], $2::bigint[]) AS w(id, receipt)
), held AS (
  SELECT m.id FROM postbox.mailbox m JOIN wanted w ON m.id = w.id AND m.receipt = w.receipt
  FOR UPDATE OF m SKIP LOCKED
), renewed AS (
  UPDATE postbox.mailbox m SET visible_at = now() + $3::bigint * interval '1 millisecond'
  FROM held WHERE m.id = held.id
  RETURNING m.id
)
SELECT w.id FROM wanted w
WHERE NOT EXISTS (SELECT 1 FROM renewed r WHERE r.id = w.id)
  AND NOT EXISTS (SELECT 1 FROM postbox.mailbox m WHERE m.id = w.id AND m.receipt = w.receipt)
