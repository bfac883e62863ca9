-- 016: where cancel, continuations and groups meet (issue 20).
--
-- A continuation an execution fires when it ends (its on_error from a cancel, a poison
-- or the stranded sweep; its on_success from its callback) is new work, not part of the
-- execution: it is enqueued with no execution_id in its envelope (the payload names the
-- execution), so a cancel's fence never refuses its handler's effects.
--
-- postbox.fence_stopped(id, exclusive) takes the execution's fence in either mode and
-- then answers whether it is STOPPED, read after the fence was granted (a VOLATILE
-- plpgsql function reads each statement with a fresh snapshot under READ COMMITTED, as
-- postbox.fence_shared_stopped of migration 015). The success ack takes it right after
-- its DELETE, in the same statement, BEFORE the handler's in-ack steps: a step's writes
-- can no longer commit after a cancel (a cancel waits for the fence; a step that comes
-- later sees STOPPED and never runs).
CREATE FUNCTION postbox.fence_stopped(execution_id text, exclusive boolean) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF exclusive THEN
    PERFORM pg_advisory_xact_lock(1885501441, hashtext(fence_stopped.execution_id));
  ELSE
    PERFORM pg_advisory_xact_lock_shared(1885501441, hashtext(fence_stopped.execution_id));
  END IF;
  RETURN EXISTS (SELECT 1 FROM postbox.executions e
                 WHERE e.id = fence_stopped.execution_id AND e.status = 'STOPPED');
END
$$;

-- The on_error continuations of the terminal executions `ids`: the caller's payload plus
-- execution_id, status and error; outside the execution (execution_id NULL). Answers how
-- many were enqueued. Used by postbox.cancel, the stranded sweep and a poison that fails
-- an execution whose own message did not carry the continuation.
CREATE FUNCTION postbox.enqueue_on_error(ids text[]) RETURNS integer
LANGUAGE sql VOLATILE AS $$
  WITH sent AS (
    INSERT INTO postbox.mailbox (queue, type, execution_id, org, payload)
    SELECT e.headers->'on_error'->>'queue', e.headers->'on_error'->>'type', NULL,
           NULLIF(e.org, ''),
           CASE WHEN jsonb_typeof(e.headers->'on_error'->'payload') = 'object'
                THEN e.headers->'on_error'->'payload' ELSE '{}'::jsonb END
           || jsonb_build_object('execution_id', e.id, 'status', e.status, 'error', e.error)
    FROM postbox.executions e
    WHERE e.id = ANY (ids) AND e.status IN ('COMPLETED', 'ERROR', 'STOPPED')
      AND e.headers->'on_error'->>'queue' IS NOT NULL
      AND e.headers->'on_error'->>'type' IS NOT NULL
    RETURNING 1)
  SELECT count(*)::integer FROM sent
$$;

-- The terminal notification of execution `execution_id`, built from its row: one webhook
-- and one usage record (unique per kind; a second call is a no-op). files_not_run: neither
-- done nor failed (batches that never ran), so the counts add up. The one definition of
-- both payloads: postbox.cancel and outbox_enqueue_terminal.sql call it.
CREATE FUNCTION postbox.enqueue_terminal(execution_id text) RETURNS void
LANGUAGE sql VOLATILE AS $$
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
  WHERE e.id = enqueue_terminal.execution_id AND e.status IN ('COMPLETED', 'ERROR', 'STOPPED')
  ON CONFLICT (execution_id, kind) DO NOTHING
$$;

-- postbox.cancel as in migration 012, its on_error now through postbox.enqueue_on_error
-- (outside the execution), its webhook and usage rows through postbox.enqueue_terminal.
CREATE OR REPLACE FUNCTION postbox.cancel(execution_id text, OUT status text, OUT cancelled boolean)
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
  PERFORM postbox.enqueue_terminal(id_);
  -- A redelivered orchestration of a QUEUED execution starts nothing (claims_tombstone.sql).
  INSERT INTO postbox.claims AS c (execution_id, owner, state)
  VALUES (id_, 'cancel', 'tombstone')
  ON CONFLICT (execution_id) DO UPDATE SET state = 'tombstone', updated_at = now();
  PERFORM postbox.enqueue_on_error(ARRAY[id_]);
  status := 'STOPPED';
  cancelled := true;
END $$;

-- The results a group's callback carries inline: every child's outcome in child order
-- ({index, status: "ok", result} or {index, status: "error", error}), or NULL when they
-- would not fit one message: more than 1,000 children, more than 16 MB of them as
-- stored, or a jsonb past PostgreSQL's limit (54000, ~256 MB). Then the callback says `results_paged` and its handler reads
-- them in pages (context::group_results, barrier_results_page.sql): the results of a
-- group scale with the group, and its last arrival never fails on their size.
CREATE FUNCTION postbox.group_results_inline(group_id text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  results jsonb;
BEGIN
  IF (SELECT b.expected FROM postbox.barriers b
      WHERE b.group_id = group_results_inline.group_id) > 1000 THEN
    RETURN NULL;
  END IF;
  -- Past 16 MB as stored (compressed) the callback's message would be too large to hand
  -- around (a read claims up to claim_batch of them at once).
  IF (SELECT sum(pg_column_size(a.result)) + sum(pg_column_size(a.error))
      FROM postbox.barrier_arrivals a
      WHERE a.group_id = group_results_inline.group_id) > 16 * 1024 * 1024 THEN
    RETURN NULL;
  END IF;
  SELECT COALESCE(jsonb_agg(CASE WHEN a.status = 'ok'
                                 THEN jsonb_build_object('index', a.child_index,
                                                         'status', a.status, 'result', a.result)
                                 ELSE jsonb_build_object('index', a.child_index,
                                                         'status', a.status, 'error', a.error)
                            END ORDER BY a.child_index), '[]'::jsonb)
  INTO results
  FROM postbox.barrier_arrivals a WHERE a.group_id = group_results_inline.group_id;
  RETURN results;
EXCEPTION WHEN program_limit_exceeded THEN
  RETURN NULL;
END
$$;

-- The lost-member sweep (reaper_find_lost_members.sql) examines open groups that went
-- quiet, each at most once per quiet period (swept_at), least recently examined first: a
-- group whose children merely wait in a backlog never keeps another from its turn.
ALTER TABLE postbox.barriers ADD COLUMN swept_at timestamptz;
CREATE INDEX barriers_open_idx ON postbox.barriers (swept_at NULLS FIRST) WHERE fired_at IS NULL;

-- Retention keeps a fired group while its callback is still queued or dead-lettered (it
-- may read the group's results in pages): retention_pick_groups.sql looks it up here.
CREATE INDEX dead_letters_message_idx ON postbox.dead_letters (message_id);
