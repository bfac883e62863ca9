-- At most $2 delivered outbox rows older than $1 milliseconds.
DELETE FROM postbox.outbox
WHERE id IN (SELECT id FROM postbox.outbox
             WHERE state = 'delivered' AND delivered_at < now() - $1::bigint * interval '1 millisecond'
             LIMIT $2)
