SELECT expected, remaining, fired_at IS NOT NULL, callback_message_id
FROM postbox.barriers WHERE group_id = $1
