-- The on_error continuations of executions $1 (text[]) the reaper just ended:
-- the caller's payload plus execution_id, status and the error.
INSERT INTO postbox.mailbox (queue, type, execution_id, org, payload)
SELECT e.headers->'on_error'->>'queue', e.headers->'on_error'->>'type', e.id, NULLIF(e.org, ''),
       CASE WHEN jsonb_typeof(e.headers->'on_error'->'payload') = 'object'
            THEN e.headers->'on_error'->'payload' ELSE '{}'::jsonb END
       || jsonb_build_object('execution_id', e.id, 'status', e.status, 'error', e.error)
FROM postbox.executions e
WHERE e.id = ANY ($1::text[])
  AND e.headers->'on_error'->>'queue' IS NOT NULL AND e.headers->'on_error'->>'type' IS NOT NULL
