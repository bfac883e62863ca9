-- 011: durable ask. A reply is either the handler's answer ('ok', body) or the
-- request's failure ('error', error text: the dead letter's reason), so an asker
-- never waits out its deadline for a request that can no longer answer. Reply keys
-- are bounded (a btree key and a NOTIFY payload have size limits, and neither may
-- ever fail the transaction that acks or dead-letters a message).
ALTER TABLE postbox.replies
  ADD COLUMN status text NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'error'));
ALTER TABLE postbox.replies ADD COLUMN error text;
-- The reaper prunes by age.
CREATE INDEX replies_created_idx ON postbox.replies (created_at);
-- `postbox reply ID` finds a request still waiting by its key (asks only: partial).
CREATE INDEX mailbox_reply_key_idx ON postbox.mailbox ((headers->>'reply_key'))
  WHERE headers ? 'reply_key';

-- Whether `key` can be stored and signalled as a reply key: 1 to 256 bytes.
CREATE FUNCTION postbox.reply_key_ok(key text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT key IS NOT NULL AND octet_length(key) BETWEEN 1 AND 256
$$;

-- A request that is dead-lettered (by any path: a failure past max_attempts, a
-- handler time-out, a crash charged to it, an undecodable body, an unknown type)
-- answers with an error in the same transaction. The first reply under a key stands.
CREATE FUNCTION postbox.reply_dead_letter() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  key text;
BEGIN
  IF jsonb_typeof(NEW.headers) = 'object' AND jsonb_typeof(NEW.headers->'reply_key') = 'string' THEN
    key := NEW.headers->>'reply_key';
    IF postbox.reply_key_ok(key) THEN
      INSERT INTO postbox.replies (reply_key, message_id, body, status, error)
      VALUES (key, NEW.message_id, 'null'::jsonb, 'error', NEW.reason)
      ON CONFLICT (reply_key) DO NOTHING;
      IF FOUND THEN
        PERFORM pg_notify('postbox_reply', key);
      END IF;
    END IF;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER dead_letters_reply AFTER INSERT ON postbox.dead_letters
  FOR EACH ROW EXECUTE FUNCTION postbox.reply_dead_letter();
