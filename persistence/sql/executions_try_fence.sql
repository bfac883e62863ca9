-- $1 execution id. executions_fence.sql without the wait: true when this transaction
-- now holds the fence exclusively, false when another transaction holds it (one
-- recording results, acking, cancelling or ending the execution: it is busy). For the
-- reaper, which must never wait on an execution that is evidently alive.
SELECT pg_try_advisory_xact_lock(1885501441, hashtext($1))
