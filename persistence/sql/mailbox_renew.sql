-- Extends the lease of a delivery still held under receipt $2.
UPDATE postbox.mailbox SET visible_at = now() + $3::bigint * interval '1 millisecond'
WHERE id = $1 AND receipt = $2
