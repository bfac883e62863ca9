-- Forgets recorded ticks fired more than $1 ms ago, at most $2 of them.
DELETE FROM postbox.schedule_ticks
 WHERE ctid IN (SELECT ctid FROM postbox.schedule_ticks
                 WHERE fired_at < now() - $1::bigint * interval '1 millisecond'
                 LIMIT $2)
