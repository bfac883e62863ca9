-- $1 execution_id, $2 expected arrivals. Arming twice is a no-op.
INSERT INTO postbox.barriers (execution_id, expected, remaining)
VALUES ($1, $2, $2)
ON CONFLICT (execution_id) DO NOTHING
