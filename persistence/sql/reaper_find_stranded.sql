-- Stranded executions: not yet terminal, with no live work for $1 ms (no message of
-- their own in the mailbox, no active claim held by a live lease, no barrier
-- progress), oldest first, at most $2; only execution $3 when it is not NULL.
-- The sweep reads its candidates with it unlocked; then for each, under its fence
-- (tried, never waited for: a busy execution is skipped), reads it again for that one
-- id before failing it (reaper_fail_stranded.sql).
SELECT e.id FROM postbox.executions e
WHERE e.status IN ('QUEUED', 'EXECUTING')
  AND e.updated_at < now() - $1::bigint * interval '1 millisecond'
  AND NOT EXISTS (SELECT 1 FROM postbox.mailbox m WHERE m.execution_id = e.id)
  AND NOT EXISTS (
    SELECT 1 FROM postbox.claims c
    JOIN postbox.mailbox m ON m.id = c.message_id AND m.receipt = c.receipt
    WHERE c.execution_id = e.id AND c.state = 'active' AND m.visible_at > now())
  AND NOT EXISTS (
    SELECT 1 FROM postbox.barriers b
    WHERE b.execution_id = e.id AND b.updated_at > now() - $1::bigint * interval '1 millisecond')
  AND ($3::text IS NULL OR e.id = $3)
ORDER BY e.updated_at, e.id
LIMIT $2
