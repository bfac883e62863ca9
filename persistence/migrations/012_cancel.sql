-- 012: cancel. postbox.cancel(id) is the one implementation of `postbox cancel`, the
-- C++ client's cancel and any SQL caller: the execution becomes STOPPED in the
-- caller's transaction, with its counts, one webhook and one usage outbox row, its
-- claim tombstoned and its on_error continuation (error "cancelled") enqueued, all
-- or nothing. Guarantee 9: it takes the execution's fence (executions_fence.sql)
-- exclusively BEFORE it locks the row (every terminal move takes the fence first, so
-- two of them never wait on each other crosswise). A transaction recording results
-- or acking a delivery of the execution holds the fence shared and checks the status
-- after it: it either commits before the cancel (and the cancel counts it) or waits
-- for the cancel and then sees STOPPED and commits nothing but its ack.
-- Answers the execution's status afterwards and whether this call stopped it; an
-- already terminal execution is left as it is (cancelled = false). An unknown id is
-- an error (SQLSTATE P0002).
CREATE FUNCTION postbox.cancel(execution_id text, OUT status text, OUT cancelled boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  id_ text := execution_id;
BEGIN
  IF id_ IS NULL OR id_ = '' THEN
    PERFORM postbox.refuse('postbox.cancel', 'execution_id is required');
  END IF;
  PERFORM pg_advisory_xact_lock(1885501441, hashtext(id_));
  UPDATE postbox.executions e
  SET status = 'STOPPED', error = 'cancelled', updated_at = now(), finished_at = now()
  WHERE e.id = id_ AND e.status IN ('QUEUED', 'EXECUTING');
  IF NOT FOUND THEN
    SELECT e.status INTO status FROM postbox.executions e WHERE e.id = id_;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'postbox.cancel: unknown execution %', id_ USING ERRCODE = 'P0002';
    END IF;
    cancelled := false;
    RETURN;
  END IF;
  -- What committed before the fence was granted is all there will ever be.
  UPDATE postbox.executions e
  SET files_done = r.done, files_failed = r.failed
  FROM (SELECT count(*) FILTER (WHERE f.status = 'done') AS done,
               count(*) FILTER (WHERE f.status = 'failed') AS failed
        FROM postbox.file_results f WHERE f.execution_id = id_) r
  WHERE e.id = id_;
  -- As outbox_enqueue_terminal.sql.
  INSERT INTO postbox.outbox (execution_id, kind, payload)
  SELECT e.id, k.kind,
         CASE k.kind
           WHEN 'webhook' THEN jsonb_build_object(
             'execution_id', e.id, 'workflow', e.workflow, 'status', e.status,
             'files_total', e.files_total, 'files_done', e.files_done,
             'files_failed', e.files_failed, 'error', e.error)
           ELSE jsonb_build_object(
             'execution_id', e.id, 'org', e.org, 'workflow', e.workflow, 'status', e.status,
             'files_processed', e.files_done + e.files_failed)
         END
  FROM postbox.executions e
  CROSS JOIN (VALUES ('webhook'), ('usage')) AS k(kind)
  WHERE e.id = id_
  ON CONFLICT (execution_id, kind) DO NOTHING;
  -- A redelivered orchestration of a QUEUED execution starts nothing (claims_tombstone.sql).
  INSERT INTO postbox.claims AS c (execution_id, owner, state)
  VALUES (id_, 'cancel', 'tombstone')
  ON CONFLICT (execution_id) DO UPDATE SET state = 'tombstone', updated_at = now();
  -- As reaper_enqueue_on_error.sql: the caller's payload plus execution_id, status, error.
  INSERT INTO postbox.mailbox (queue, type, execution_id, org, payload)
  SELECT e.headers->'on_error'->>'queue', e.headers->'on_error'->>'type', e.id,
         NULLIF(e.org, ''),
         CASE WHEN jsonb_typeof(e.headers->'on_error'->'payload') = 'object'
              THEN e.headers->'on_error'->'payload' ELSE '{}'::jsonb END
         || jsonb_build_object('execution_id', e.id, 'status', e.status, 'error', e.error)
  FROM postbox.executions e
  WHERE e.id = id_
    AND e.headers->'on_error'->>'queue' IS NOT NULL AND e.headers->'on_error'->>'type' IS NOT NULL;
  status := 'STOPPED';
  cancelled := true;
END $$;
