-- Terminal executions of the given statuses ($1 text[]) finished more than $2
-- milliseconds ago, oldest first, at most $3. Never one that is not terminal.
SELECT id FROM postbox.executions
WHERE status = ANY($1::text[]) AND status IN ('COMPLETED', 'ERROR', 'STOPPED')
  AND finished_at < now() - $2::bigint * interval '1 millisecond'
ORDER BY finished_at
LIMIT $3
