-- 015: the fenced status check of a success ack in one round trip (it took two:
-- executions_fence_shared.sql, then executions_stopped.sql). postbox.fence_shared_stopped
-- takes the execution's fence shared (executions_fence.sql), then answers whether the
-- execution is STOPPED. A VOLATILE plpgsql function reads with a fresh snapshot per
-- statement under READ COMMITTED, so the status is read after the lock is granted: a
-- cancel this call waited for is seen (as postbox.cancel relies on, migration 012).
CREATE FUNCTION postbox.fence_shared_stopped(execution_id text) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM pg_advisory_xact_lock_shared(1885501441, hashtext(fence_shared_stopped.execution_id));
  RETURN EXISTS (SELECT 1 FROM postbox.executions e
                 WHERE e.id = fence_shared_stopped.execution_id AND e.status = 'STOPPED');
END
$$;
