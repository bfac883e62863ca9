-- A node declares the actor types it serves: type $1 on queue $2, poison policy $3.
-- The last node to start with a type says where it lives (they share one topology).
INSERT INTO postbox.actor_types (actor_type, queue, on_poison, registered_by)
VALUES ($1, $2, $3, $4)
ON CONFLICT (actor_type) DO UPDATE
SET queue = EXCLUDED.queue, on_poison = EXCLUDED.on_poison,
    registered_by = EXCLUDED.registered_by, registered_at = now()
