DELETE FROM postbox.dead_letters WHERE dead_at < now() - $1::bigint * interval '1 millisecond'
