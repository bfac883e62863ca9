-- One actor: as actor_list.sql, then its state (JSON text).
SELECT a.actor_type, a.actor_key, a.queue, a.head_id,
       extract(epoch FROM now() - a.head_since)::float8,
       (SELECT count(*) FROM postbox.mailbox m
        WHERE m.actor_type = a.actor_type AND m.actor_key = a.actor_key),
       a.state_version, a.turns, extract(epoch FROM a.blocked_at)::float8, a.blocked_reason,
       a.state::text
FROM postbox.actors a
WHERE a.actor_type = $1 AND a.actor_key = $2
