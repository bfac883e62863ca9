-- A turn's new state, written with its ack only while the version is the one the turn
-- read ($4): no row when a newer turn (or an operator) changed it since. The new version
-- comes from a sequence, never reused (migration 019). JSON null (a state back at its
-- default) is stored as NULL: the actor holds nothing (retention).
UPDATE postbox.actors
SET state = NULLIF($3::jsonb, 'null'::jsonb),
    state_version = nextval('postbox.actor_state_version_seq'), updated_at = now()
WHERE actor_type = $1 AND actor_key = $2 AND state_version = $4
RETURNING state_version
