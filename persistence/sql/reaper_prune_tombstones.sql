DELETE FROM postbox.claims
WHERE state = 'tombstone' AND updated_at < now() - $1::bigint * interval '1 millisecond'
