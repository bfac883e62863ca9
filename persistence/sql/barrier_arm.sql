-- $1 group_id, $2 expected arrivals, $3 execution_id (or NULL), $4 callback jsonb
-- (or NULL), $5 parent_message_id (or NULL), $6 child message ids (bigint[], or NULL).
-- Arming twice is a no-op.
INSERT INTO postbox.barriers (group_id, expected, remaining, execution_id, callback,
                              parent_message_id, child_ids)
VALUES ($1, $2, $2, $3, $4::jsonb, $5, $6::bigint[])
ON CONFLICT (group_id) DO NOTHING
