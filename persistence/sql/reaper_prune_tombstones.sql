-- At most $2 claim tombstones older than $1 milliseconds.
DELETE FROM postbox.claims
WHERE execution_id IN (SELECT execution_id FROM postbox.claims
                       WHERE state = 'tombstone'
                         AND updated_at < now() - $1::bigint * interval '1 millisecond'
                       LIMIT $2)
