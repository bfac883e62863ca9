-- $1 execution_id, $2 owner, $3 message_id, $4 receipt of the delivery taking the claim.
-- A claim is fenced like a lease: a newer delivery (higher receipt) of the same
-- message takes it over; another message, or a tombstone, loses.
INSERT INTO postbox.claims AS c (execution_id, owner, state, message_id, receipt)
VALUES ($1, $2, 'active', $3, $4)
ON CONFLICT (execution_id) DO UPDATE
SET owner = EXCLUDED.owner, receipt = EXCLUDED.receipt, claimed_at = now(), updated_at = now()
WHERE c.state = 'active' AND c.message_id = EXCLUDED.message_id AND c.receipt <= EXCLUDED.receipt
RETURNING c.state
