-- mailbox_ack.sql that also answers whether execution $3 is STOPPED (as of this
-- statement's snapshot): no row when the receipt is stale. The ack of a delivery with
-- in-ack steps uses it to skip the steps of a cancelled execution without a round trip
-- of its own; the fenced check (executions_fence_shared_stopped.sql) comes after them.
WITH acked AS (DELETE FROM postbox.mailbox WHERE id = $1 AND receipt = $2 RETURNING id)
SELECT EXISTS (SELECT 1 FROM postbox.executions WHERE id = $3 AND status = 'STOPPED')
FROM acked
