-- Active claims untouched for $1 ms, oldest first, at most $2.
SELECT execution_id, owner, message_id, receipt, extract(epoch FROM updated_at)::float8
FROM postbox.claims
WHERE state = 'active' AND updated_at < now() - $1::bigint * interval '1 millisecond'
ORDER BY updated_at
LIMIT $2
