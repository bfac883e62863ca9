-- At most one row per (execution, kind): a second enqueue is a no-op.
INSERT INTO postbox.outbox (execution_id, kind, payload)
VALUES ($1, $2, $3::jsonb)
ON CONFLICT (execution_id, kind) DO NOTHING
RETURNING id
