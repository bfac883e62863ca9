-- $1 scope, $2 key, $3 max_in_flight (0: none). Makes slots 1..$3 exist and drops the
-- free ones above it; a held slot above it stays until its holder is done (the claim
-- never takes a slot above max_in_flight). Such a holder counts: the claim moves it
-- into a free slot at or below max and admits nothing under the limit while one
-- remains above (postbox.limit_slots_settle, migration 028).
WITH made AS (
  INSERT INTO postbox.limit_slots (scope, key, slot)
  SELECT $1, $2, g FROM generate_series(1, $3::int) AS g
  ON CONFLICT DO NOTHING
)
DELETE FROM postbox.limit_slots
WHERE scope = $1 AND key = $2 AND slot > $3::int
  AND (message_id IS NULL OR lease_until <= now())
