-- The topology's default tier per message type (priorities.types): $1 types (text[])
-- with $2 tiers (smallint[], 0..3) replace the table, written by node $3 at its start.
-- Nodes share one topology: the last to start says what holds.
WITH gone AS (
  DELETE FROM postbox.type_priorities WHERE type <> ALL ($1::text[])
)
INSERT INTO postbox.type_priorities (type, priority, registered_by)
SELECT t, p, $3 FROM unnest($1::text[], $2::smallint[]) AS u(t, p)
ON CONFLICT (type) DO UPDATE
SET priority = EXCLUDED.priority, registered_by = EXCLUDED.registered_by, registered_at = now()
