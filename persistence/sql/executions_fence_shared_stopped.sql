-- $1 execution id. The fence shared (executions_fence_shared.sql), then whether the
-- execution was cancelled (STOPPED), read after the fence was granted: run by the
-- transaction that acks a delivery of the execution, which then commits nothing but
-- its ack. One round trip (migration 015).
SELECT postbox.fence_shared_stopped($1)
