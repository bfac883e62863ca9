-- Terminal executions of the given statuses ($1 text[]) finished more than $2
-- milliseconds ago, oldest first, at most $3. Never one that is not terminal, and never
-- one still in use (guarantee 1): a message of it still in the mailbox (leftover batches
-- of an ERROR execution, a continuation's work sent under its id) or a group of it still
-- open (a fan_out by its on_success handler) keeps it, with all its rows, until they end.
SELECT e.id FROM postbox.executions e
WHERE e.status = ANY($1::text[]) AND e.status IN ('COMPLETED', 'ERROR', 'STOPPED')
  AND e.finished_at < now() - $2::bigint * interval '1 millisecond'
  AND NOT EXISTS (SELECT 1 FROM postbox.mailbox m WHERE m.execution_id = e.id)
  AND NOT EXISTS (SELECT 1 FROM postbox.barriers b
                  WHERE b.execution_id = e.id AND b.fired_at IS NULL)
ORDER BY e.finished_at
LIMIT $3
