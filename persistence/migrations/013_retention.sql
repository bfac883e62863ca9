-- 013: retention. The reaper's leader prunes terminal executions (with everything they
-- own) past `retention.completed` / `retention.failed`, and dead letters, delivered
-- outbox rows and replies past theirs, in bounded statements. These indexes keep each
-- statement to the rows it deletes.

-- Uploaded blobs belong to the execution whose submit stored them (NULL: stored before
-- this migration; never pruned, their owner is unknown).
ALTER TABLE postbox.blobs ADD COLUMN execution_id text;
CREATE INDEX blobs_execution_idx ON postbox.blobs (execution_id) WHERE execution_id IS NOT NULL;

CREATE INDEX executions_finished_idx ON postbox.executions (status, finished_at)
  WHERE status IN ('COMPLETED', 'ERROR', 'STOPPED');
CREATE INDEX dead_letters_dead_at_idx ON postbox.dead_letters (dead_at);
CREATE INDEX outbox_delivered_idx ON postbox.outbox (delivered_at) WHERE state = 'delivered';
-- Groups of no execution (a handler's own fan_out), by when they fired.
CREATE INDEX barriers_fired_idx ON postbox.barriers (fired_at)
  WHERE execution_id IS NULL AND fired_at IS NOT NULL;
