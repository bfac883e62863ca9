-- The queue that serves actor type $1 (as the nodes registered it). No row: no node
-- has registered the type.
SELECT queue FROM postbox.actor_types WHERE actor_type = $1
