-- At most $2 dead letters older than $1 milliseconds.
DELETE FROM postbox.dead_letters
WHERE id IN (SELECT id FROM postbox.dead_letters
             WHERE dead_at < now() - $1::bigint * interval '1 millisecond' LIMIT $2)
