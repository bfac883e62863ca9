-- An actor's last committed state (JSON text; NULL when it has none) and its version,
-- read without a lock. No row: the actor does not exist.
SELECT state::text, state_version FROM postbox.actors WHERE actor_type = $1 AND actor_key = $2
