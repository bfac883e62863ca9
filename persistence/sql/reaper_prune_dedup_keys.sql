-- At most $2 ttl windows of dedup keys (migration 023) that ended more than $1 ms ago
-- (the reaper passes 0): an ended window already admits a new send (it is renewed in
-- place), pruning only keeps the table small.
DELETE FROM postbox.dedup_keys
WHERE (queue, dedup_key) IN (SELECT queue, dedup_key FROM postbox.dedup_keys
                             WHERE expires_at <= now() - $1::bigint * interval '1 millisecond'
                             LIMIT $2)
