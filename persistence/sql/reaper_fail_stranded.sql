-- Ends execution $1 in ERROR as stranded for $2 ms, unless it is terminal already.
-- Run under its fence (executions_try_fence.sql) right after reaper_find_stranded.sql
-- found it stranded for that one id: every transaction that ends an execution takes
-- the fence before its row (postbox.cancel, the callback, poison), so nothing moved it
-- in between. Returns the id when it failed it.
UPDATE postbox.executions e
SET status = 'ERROR', updated_at = now(), finished_at = now(),
    error = 'stranded: ' || lower(e.status) || ' with no live message, claim or barrier progress for '
            || ($2::bigint / 1000) || 's (found by the reaper)'
WHERE e.id = $1 AND e.status IN ('QUEUED', 'EXECUTING')
RETURNING e.id
