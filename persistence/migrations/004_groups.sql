-- 004: fan-out / fan-in is a runtime primitive. A barrier belongs to a group (any
-- handler's fan_out), not only to an execution: its key becomes `group_id`. The
-- file pipeline's barriers keep their key (an execution's group id is its id), so
-- rows armed before this migration keep working. `execution_id` now names the
-- group's execution, when it has one.
ALTER TABLE postbox.barriers RENAME COLUMN execution_id TO group_id;
ALTER TABLE postbox.barriers ADD COLUMN execution_id text;
UPDATE postbox.barriers SET execution_id = group_id;
CREATE INDEX barriers_execution_idx ON postbox.barriers (execution_id);
-- The message the firing arrival enqueues ({queue, type, payload, headers, org});
-- NULL when the arriving handler brings its own (the pipeline's batches).
ALTER TABLE postbox.barriers ADD COLUMN callback jsonb;
-- The message whose handler fanned out (inspection only).
ALTER TABLE postbox.barriers ADD COLUMN parent_message_id bigint;

-- One arrival per child, with its outcome: the callback gets every child's result
-- or error, in child order.
ALTER TABLE postbox.barrier_arrivals RENAME COLUMN execution_id TO group_id;
ALTER TABLE postbox.barrier_arrivals RENAME COLUMN batch_index TO child_index;
ALTER TABLE postbox.barrier_arrivals
  ADD COLUMN status text NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'error'));
ALTER TABLE postbox.barrier_arrivals ADD COLUMN result jsonb;
ALTER TABLE postbox.barrier_arrivals ADD COLUMN error text;
ALTER TABLE postbox.barrier_arrivals ADD COLUMN message_id bigint;

-- A handler's reply to a message sent with a reply key (durable ask): written in
-- the ack's transaction, signalled on channel postbox_reply with the key.
CREATE TABLE postbox.replies (
  reply_key  text PRIMARY KEY,
  message_id bigint      NOT NULL,
  body       jsonb       NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
