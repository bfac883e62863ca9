-- $1 reply_key, $2 message_id, $3 body jsonb. The first reply under a key stands
-- (a redelivered handler cannot change what an asker already read); the NOTIFY
-- wakes whoever waits on the key. A key postbox cannot store (see
-- postbox.reply_key_ok, migration 011) is ignored rather than failing the ack.
WITH put AS (
  INSERT INTO postbox.replies (reply_key, message_id, body)
  SELECT $1, $2, $3::jsonb WHERE postbox.reply_key_ok($1)
  ON CONFLICT (reply_key) DO NOTHING
  RETURNING reply_key
)
SELECT pg_notify('postbox_reply', reply_key) FROM put
