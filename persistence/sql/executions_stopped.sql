-- $1 execution id. Whether it was cancelled (STOPPED): run after
-- executions_fence_shared.sql, in a statement of its own, by the transaction that
-- acks a delivery of the execution, which then commits nothing but its ack.
SELECT EXISTS (SELECT 1 FROM postbox.executions WHERE id = $1 AND status = 'STOPPED')
