-- Ends execution $1 in ERROR if it is still stranded: not yet terminal, with no live
-- work for $2 ms (no message of its own in the mailbox, no active claim held by a
-- live lease, no barrier progress). Run under the fence (executions_try_fence.sql), which every
-- transaction that ends an execution takes before its row (postbox.cancel, the
-- callback, poison): the fence first, then the row, never crosswise. Every condition
-- is checked again here, so an execution that moved or completed since
-- reaper_find_stranded.sql read it is left alone. Returns the id when it failed it.
UPDATE postbox.executions e
SET status = 'ERROR', updated_at = now(), finished_at = now(),
    error = 'stranded: ' || lower(e.status) || ' with no live message, claim or barrier progress for '
            || ($2::bigint / 1000) || 's (found by the reaper)'
WHERE e.id = $1
  AND e.status IN ('QUEUED', 'EXECUTING')
  AND e.updated_at < now() - $2::bigint * interval '1 millisecond'
  AND NOT EXISTS (SELECT 1 FROM postbox.mailbox m WHERE m.execution_id = e.id)
  AND NOT EXISTS (
    SELECT 1 FROM postbox.claims c
    JOIN postbox.mailbox m ON m.id = c.message_id AND m.receipt = c.receipt
    WHERE c.execution_id = e.id AND c.state = 'active' AND m.visible_at > now())
  AND NOT EXISTS (
    SELECT 1 FROM postbox.barriers b
    WHERE b.execution_id = e.id AND b.updated_at > now() - $2::bigint * interval '1 millisecond')
RETURNING e.id
