-- Actors, blocked ones only when $1; of type $2 when not NULL; at most $3, blocked
-- first, then by type and key: type, key, queue, head id, head age (s), backlog,
-- state version, turns, blocked since (epoch), reason.
SELECT a.actor_type, a.actor_key, a.queue, a.head_id,
       extract(epoch FROM now() - a.head_since)::float8,
       (SELECT count(*) FROM postbox.mailbox m
        WHERE m.actor_type = a.actor_type AND m.actor_key = a.actor_key),
       a.state_version, a.turns, extract(epoch FROM a.blocked_at)::float8, a.blocked_reason
FROM postbox.actors a
WHERE (NOT $1::boolean OR a.blocked_at IS NOT NULL)
  AND ($2::text IS NULL OR a.actor_type = $2)
ORDER BY a.blocked_at IS NULL, a.actor_type, a.actor_key
LIMIT $3
