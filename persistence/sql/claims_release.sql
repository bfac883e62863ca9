-- Releases an active claim held by delivery ($2 message_id, $3 receipt); idempotent.
DELETE FROM postbox.claims
WHERE execution_id = $1 AND state = 'active' AND message_id = $2 AND receipt = $3
