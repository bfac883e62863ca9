-- Acks many deliveries in one statement; returns the ids that were still held.
DELETE FROM postbox.mailbox m
USING unnest($1::bigint[], $2::bigint[]) AS a(id, receipt)
WHERE m.id = a.id AND m.receipt = a.receipt
RETURNING m.id
