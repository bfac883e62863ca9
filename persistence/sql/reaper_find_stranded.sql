-- Candidates for the stranded sweep (reaper_fail_stranded.sql), read without a lock:
-- executions not yet terminal with no live work for $1 ms, oldest first, at most $2.
-- Each is then failed under its fence (taken without waiting: a busy execution is
-- skipped), where every condition is checked again.
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
ORDER BY e.updated_at, e.id
LIMIT $2
