-- $1 execution id. Taken (shared, until commit) by a transaction that records results of
-- the execution, in a statement of its own BEFORE the one that checks the status and
-- inserts (that statement's snapshot then includes whatever terminal transaction this
-- one waited for). See executions_fence.sql.
SELECT pg_advisory_xact_lock_shared(1885501441, hashtext($1))
