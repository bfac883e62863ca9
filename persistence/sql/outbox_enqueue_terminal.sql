-- The terminal notification of execution $1, built from its row: one webhook and
-- one usage record per execution (unique per kind; a second call is a no-op).
-- files_not_run: neither done nor failed (batches that never ran), so the counts add up.
INSERT INTO postbox.outbox (execution_id, kind, payload)
SELECT e.id, k.kind,
       CASE k.kind
         WHEN 'webhook' THEN jsonb_build_object(
           'execution_id', e.id, 'workflow', e.workflow, 'status', e.status,
           'files_total', e.files_total, 'files_done', e.files_done,
           'files_failed', e.files_failed,
           'files_not_run', GREATEST(e.files_total - e.files_done - e.files_failed, 0),
           'error', e.error)
         ELSE jsonb_build_object(
           'execution_id', e.id, 'org', e.org, 'workflow', e.workflow, 'status', e.status,
           'files_processed', e.files_done + e.files_failed)
       END
FROM postbox.executions e
CROSS JOIN (VALUES ('webhook'), ('usage')) AS k(kind)
WHERE e.id = $1 AND e.status IN ('COMPLETED', 'ERROR', 'STOPPED')
ON CONFLICT (execution_id, kind) DO NOTHING
