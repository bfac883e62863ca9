-- Executions not yet terminal with no live work for $1 ms: no message of theirs
-- in the mailbox, no active claim held by a live lease, no barrier progress.
-- They end in ERROR (never silently). The status guard is re-checked under the
-- row lock, so an execution completed meanwhile is left alone.
WITH stranded AS (
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
  ORDER BY e.updated_at
  LIMIT $2
  FOR UPDATE OF e SKIP LOCKED
)
UPDATE postbox.executions e
SET status = 'ERROR', updated_at = now(), finished_at = now(),
    error = 'stranded: ' || lower(e.status) || ' with no live message, claim or barrier progress for '
            || ($1::bigint / 1000) || 's (found by the reaper)'
FROM stranded s
WHERE e.id = s.id AND e.status IN ('QUEUED', 'EXECUTING')
RETURNING e.id
