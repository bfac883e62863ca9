-- Active claims older than $1 ms whose orchestration message is gone and whose
-- execution is not running: nothing will ever finish them.
DELETE FROM postbox.claims c
WHERE c.state = 'active'
  AND c.updated_at < now() - $1::bigint * interval '1 millisecond'
  AND NOT EXISTS (SELECT 1 FROM postbox.mailbox m WHERE m.id = c.message_id)
  AND NOT EXISTS (SELECT 1 FROM postbox.executions e
                  WHERE e.id = c.execution_id AND e.status = 'EXECUTING')
RETURNING c.execution_id
