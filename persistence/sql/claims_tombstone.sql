-- The execution is terminal: keep a tombstone so a redelivered orchestration skips it.
INSERT INTO postbox.claims AS c (execution_id, owner, state)
VALUES ($1, $2, 'tombstone')
ON CONFLICT (execution_id) DO UPDATE SET state = 'tombstone', updated_at = now()
