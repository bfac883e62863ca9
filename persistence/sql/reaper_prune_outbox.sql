DELETE FROM postbox.outbox
WHERE state = 'delivered' AND delivered_at < now() - $1::bigint * interval '1 millisecond'
