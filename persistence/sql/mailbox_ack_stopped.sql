-- mailbox_ack.sql, then the fence of execution $3 (exclusive when $4, else shared) and
-- whether that execution is STOPPED, read after the fence was granted
-- (postbox.fence_stopped, migration 016): one statement, one round trip. No row when the
-- receipt is stale (and then no fence is taken). The success ack of a delivery of an
-- execution runs it before anything else: a cancel either committed first (STOPPED: ack
-- only) or waits for this transaction.
WITH acked AS (DELETE FROM postbox.mailbox WHERE id = $1 AND receipt = $2 RETURNING id)
SELECT postbox.fence_stopped($3, $4::boolean)
FROM acked
