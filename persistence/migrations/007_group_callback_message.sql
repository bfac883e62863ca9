-- 007: a fired group remembers the callback message it enqueued, so a handler can
-- tell that message from another one claiming to be the callback (sent by hand, or a
-- duplicate): the file pipeline completes an execution only from its own callback.
ALTER TABLE postbox.barriers ADD COLUMN callback_message_id bigint;
