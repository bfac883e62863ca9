-- $1 group_id, $2 the callback message the firing arrival enqueued.
UPDATE postbox.barriers SET callback_message_id = $2 WHERE group_id = $1
