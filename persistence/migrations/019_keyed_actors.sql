-- 019: keyed actors (guarantees 10 and 11). A message may name an actor
-- (actor_type, actor_key); its messages are handled one at a time, in the order their
-- sends committed, and its state commits with the turn that changed it.
--
-- How: a key has at most one claimable message, its head (actors.head_id). Every other
-- message of the key is parked outside the claim's range (visible_at = 'infinity'), so
-- a backlog costs the claim nothing. The order is the commit order: a send takes the
-- key's row in actor_seqs (an upsert, held until its transaction ends) and numbers its
-- message from it (actor_seq), so a second sender to the key waits for the first to
-- commit or roll back, and a rolled-back send leaves no number behind.
--
-- Who makes a message the head:
--   the send itself, for a key's first message ever (nobody else can see the key yet);
--   the removal of a head (its ack, its dead letter, a skip), in that transaction, by
--     the AFTER DELETE trigger below: the key's lowest parked number becomes the head;
--   otherwise postbox.actor_promote(queue), which consumers call when woken: a send to
--     a key that has a head sets actor_seqs.wake; the promoter looks at woken keys and
--     promotes where no head is (the head's removal may have committed while the send
--     was still open, so it could not see the send). It never waits on a lock: a key
--     whose rows are busy keeps its wake for the next call.
-- Locks: a delivery path takes the head's mailbox row, then the actors row (trigger);
-- the promoter takes actor_seqs, then actors (both SKIP LOCKED), then a parked row.
-- Senders take actor_seqs only. So no two of them wait on each other crosswise.
--
-- State: actors.state (jsonb) and state_version; a turn's ack writes the new state
-- WHERE state_version = the version the turn read (actor_state_put.sql), so a stale
-- delivery can never write it (its ack is refused by the receipt before that, too).
-- A head whose message is poisoned under on_poison 'hold' is blocked: parked again with
-- blocked_at/blocked_reason set, until an operator retries, skips or drops it.

ALTER TABLE postbox.mailbox ADD COLUMN actor_type text, ADD COLUMN actor_key text,
                            ADD COLUMN actor_seq bigint;
ALTER TABLE postbox.mailbox ADD CONSTRAINT mailbox_actor_check
  CHECK ((actor_type IS NULL) = (actor_key IS NULL)
         AND (actor_key IS NULL OR octet_length(actor_key) BETWEEN 1 AND 256)
         AND (actor_type IS NULL OR octet_length(actor_type) BETWEEN 1 AND 256));
-- A key's messages in commit order (its head first): the promotion reads the first.
CREATE INDEX mailbox_actor_idx ON postbox.mailbox (actor_type, actor_key, actor_seq)
  WHERE actor_key IS NOT NULL;
ALTER TABLE postbox.dead_letters ADD COLUMN actor_type text, ADD COLUMN actor_key text;

-- The actor types nodes serve: which queue, what a poisoned head does. Written by
-- every node at start from its registry and topology; senders that name no queue
-- (SQL, CLI, a continuation) find it here.
CREATE TABLE postbox.actor_types (
  actor_type    text PRIMARY KEY,
  queue         text        NOT NULL,
  on_poison     text        NOT NULL DEFAULT 'hold' CHECK (on_poison IN ('hold', 'skip')),
  registered_by text,
  registered_at timestamptz NOT NULL DEFAULT now()
);

-- The senders' side of a key: the last number handed out and whether a send since the
-- promoter last looked may need promoting. Only senders and the promoter touch it.
CREATE TABLE postbox.actor_seqs (
  actor_type text   NOT NULL,
  actor_key  text   NOT NULL,
  queue      text   NOT NULL,
  next_seq   bigint NOT NULL,
  wake       boolean NOT NULL DEFAULT false,
  PRIMARY KEY (actor_type, actor_key)
);
CREATE INDEX actor_seqs_wake_idx ON postbox.actor_seqs (queue) WHERE wake;

-- The handlers' side of a key: its head, its state, whether it is blocked.
CREATE TABLE postbox.actors (
  actor_type     text        NOT NULL,
  actor_key      text        NOT NULL,
  queue          text        NOT NULL,
  head_id        bigint,
  head_since     timestamptz,
  state          jsonb,
  state_version  bigint      NOT NULL DEFAULT 0,
  blocked_at     timestamptz,
  blocked_reason text,
  turns          bigint      NOT NULL DEFAULT 0,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (actor_type, actor_key)
);
CREATE INDEX actors_blocked_idx ON postbox.actors (actor_type) WHERE blocked_at IS NOT NULL;
CREATE INDEX actors_head_idx ON postbox.actors (queue, head_since) WHERE head_id IS NOT NULL;

-- Makes the key's first parked message its head. The caller holds the actors row and
-- has seen head_id IS NULL. Returns the new head's id, or NULL when nothing waits.
CREATE FUNCTION postbox.actor_promote_next(t text, k text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  next_id bigint;
BEGIN
  SELECT m.id INTO next_id FROM postbox.mailbox m
  WHERE m.actor_type = t AND m.actor_key = k
  ORDER BY m.actor_seq LIMIT 1;
  IF next_id IS NULL THEN RETURN NULL; END IF;
  UPDATE postbox.mailbox SET visible_at = now() WHERE id = next_id;
  UPDATE postbox.actors SET head_id = next_id, head_since = now(), updated_at = now()
  WHERE actor_type = t AND actor_key = k;
  RETURN next_id;
END $$;

-- BEFORE INSERT of a keyed message: its queue (from actor_types when not given), its
-- number, and whether it is the head (a new key) or parked.
CREATE FUNCTION postbox.actor_on_send() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  seq bigint;
  key_queue text;
BEGIN
  IF NEW.queue IS NULL OR NEW.queue = '' THEN
    SELECT a.queue INTO NEW.queue FROM postbox.actor_types a WHERE a.actor_type = NEW.actor_type;
    IF NEW.queue IS NULL THEN
      RAISE EXCEPTION 'postbox: actor type "%" is not served by any node (no queue is known '
                      'for it): start a node whose registry has it, or name the queue',
                      NEW.actor_type USING ERRCODE = '22023';
    END IF;
  END IF;
  IF octet_length(NEW.actor_key) NOT BETWEEN 1 AND 256 THEN
    RAISE EXCEPTION 'postbox: an actor key is 1 to 256 bytes, got %', octet_length(NEW.actor_key)
      USING ERRCODE = '22023';
  END IF;
  INSERT INTO postbox.actor_seqs AS s (actor_type, actor_key, queue, next_seq, wake)
  VALUES (NEW.actor_type, NEW.actor_key, NEW.queue, 1, false)
  ON CONFLICT (actor_type, actor_key) DO UPDATE SET next_seq = s.next_seq + 1, wake = true
  RETURNING s.next_seq, s.queue INTO seq, key_queue;
  IF key_queue <> NEW.queue THEN
    RAISE EXCEPTION 'postbox: actor %/% lives on queue "%", not "%"', NEW.actor_type,
                    NEW.actor_key, key_queue, NEW.queue USING ERRCODE = '22023';
  END IF;
  NEW.actor_seq := seq;
  IF seq = 1 THEN
    -- A new key: this message is its head at once.
    INSERT INTO postbox.actors (actor_type, actor_key, queue, head_id, head_since)
    VALUES (NEW.actor_type, NEW.actor_key, NEW.queue, NEW.id, now())
    ON CONFLICT (actor_type, actor_key) DO NOTHING;
    IF FOUND THEN RETURN NEW; END IF;
    UPDATE postbox.actor_seqs SET wake = true
    WHERE actor_type = NEW.actor_type AND actor_key = NEW.actor_key;
  END IF;
  NEW.visible_at := 'infinity';
  RETURN NEW;
END $$;
CREATE TRIGGER mailbox_actor_send BEFORE INSERT ON postbox.mailbox
  FOR EACH ROW WHEN (NEW.actor_key IS NOT NULL) EXECUTE FUNCTION postbox.actor_on_send();

-- AFTER DELETE of a keyed message (ack, dead letter, skip, drop): when it was the
-- head, the key's next message becomes the head in the same transaction.
CREATE FUNCTION postbox.actor_on_remove() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE postbox.actors
  SET head_id = NULL, head_since = NULL, blocked_at = NULL, blocked_reason = NULL,
      turns = turns + 1, updated_at = now()
  WHERE actor_type = OLD.actor_type AND actor_key = OLD.actor_key AND head_id = OLD.id;
  IF FOUND THEN PERFORM postbox.actor_promote_next(OLD.actor_type, OLD.actor_key); END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER mailbox_actor_remove AFTER DELETE ON postbox.mailbox
  FOR EACH ROW WHEN (OLD.actor_key IS NOT NULL) EXECUTE FUNCTION postbox.actor_on_remove();

-- Promotes up to `max` woken keys of queue `q` that have no head. Never waits on a
-- lock: a key whose rows another transaction holds keeps its wake for the next call.
-- Returns how many heads it made.
CREATE FUNCTION postbox.actor_promote(q text, max integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  r record;
  head bigint;
  made integer := 0;
BEGIN
  FOR r IN SELECT s.actor_type, s.actor_key FROM postbox.actor_seqs s
           WHERE s.queue = q AND s.wake
           ORDER BY s.actor_type, s.actor_key LIMIT max
           FOR UPDATE SKIP LOCKED LOOP
    SELECT a.head_id INTO head FROM postbox.actors a
    WHERE a.actor_type = r.actor_type AND a.actor_key = r.actor_key
    FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
      IF EXISTS (SELECT 1 FROM postbox.actors a
                 WHERE a.actor_type = r.actor_type AND a.actor_key = r.actor_key) THEN
        CONTINUE;  -- busy (a turn's ack): look again next time
      END IF;
      INSERT INTO postbox.actors (actor_type, actor_key, queue)
      VALUES (r.actor_type, r.actor_key, q) ON CONFLICT DO NOTHING;
      head := NULL;
    END IF;
    IF head IS NULL AND postbox.actor_promote_next(r.actor_type, r.actor_key) IS NOT NULL THEN
      made := made + 1;
    END IF;
    UPDATE postbox.actor_seqs SET wake = false
    WHERE actor_type = r.actor_type AND actor_key = r.actor_key;
  END LOOP;
  RETURN made;
END $$;

-- The last committed state of an actor (NULL when it has none), without a turn.
CREATE FUNCTION postbox.actor_state(actor_type text, actor_key text) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT a.state FROM postbox.actors a
  WHERE a.actor_type = $1 AND a.actor_key = $2
$$;

-- Operator: a blocked head runs again, its attempts forgiven. Returns its id, or NULL
-- when the key is not blocked.
CREATE FUNCTION postbox.actor_retry(t text, k text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  head bigint;
BEGIN
  SELECT a.head_id INTO head FROM postbox.actors a
  WHERE a.actor_type = t AND a.actor_key = k AND a.blocked_at IS NOT NULL FOR UPDATE;
  IF head IS NULL THEN RETURN NULL; END IF;
  UPDATE postbox.mailbox
  SET visible_at = now(), attempts = 0, read_ct = 0, suspect = false, alone_on = NULL,
      receipt = NULL
  WHERE id = head;
  UPDATE postbox.actors SET blocked_at = NULL, blocked_reason = NULL, updated_at = now()
  WHERE actor_type = t AND actor_key = k;
  RETURN head;
END $$;

-- The SQL API's send, now also to an actor: queue may be NULL (or '') when actor_type
-- names a type a node serves. Same checks as before (migration 010), same rights (017).
DROP FUNCTION postbox.send(text, text, jsonb, jsonb, text, text, interval);
CREATE FUNCTION postbox.send(queue text, type text, payload jsonb,
                             headers jsonb DEFAULT '{}',
                             execution_id text DEFAULT NULL, org text DEFAULT NULL,
                             delay interval DEFAULT '0',
                             actor_type text DEFAULT NULL, actor_key text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
  fn constant text := 'postbox.send';
  pipeline constant boolean :=
    type IN ('execute_workflow', 'process_file_batch', 'execution_callback');
  new_id bigint;
BEGIN
  IF (actor_type IS NULL) <> (actor_key IS NULL) THEN
    PERFORM postbox.refuse(fn, 'actor_type and actor_key go together');
  END IF;
  IF actor_key IS NOT NULL THEN
    IF actor_type = '' THEN PERFORM postbox.refuse(fn, 'actor_type must not be empty'); END IF;
    IF octet_length(actor_key) NOT BETWEEN 1 AND 256 THEN
      PERFORM postbox.refuse(fn, 'actor_key must be 1 to 256 bytes, got '
                                 || octet_length(actor_key));
    END IF;
    IF delay IS DISTINCT FROM interval '0' THEN
      PERFORM postbox.refuse(fn, 'a message to an actor is not delayed (its turn comes in order)');
    END IF;
    IF pipeline THEN PERFORM postbox.refuse(fn, 'a ' || type || ' is not sent to an actor'); END IF;
  ELSIF queue IS NULL OR queue = '' THEN
    PERFORM postbox.refuse(fn, 'queue is required');
  END IF;
  IF type IS NULL OR type = '' THEN PERFORM postbox.refuse(fn, 'type is required'); END IF;
  IF jsonb_typeof(payload) IS DISTINCT FROM 'object' THEN
    PERFORM postbox.refuse(fn, 'payload must be a JSON object, got '
                               || COALESCE(jsonb_typeof(payload), 'NULL'));
  END IF;
  PERFORM postbox.check_headers(fn, headers);
  IF delay IS NULL THEN PERFORM postbox.refuse(fn, 'delay must be an interval, got NULL'); END IF;
  IF delay < interval '0' THEN PERFORM postbox.refuse(fn, 'delay must be zero or more'); END IF;
  PERFORM postbox.check_pipeline_payload(fn, type, payload);
  IF pipeline AND execution_id IS NOT NULL AND execution_id <> payload->>'execution_id' THEN
    PERFORM postbox.refuse(fn, 'execution_id "' || execution_id || '" differs from '
                               || 'payload.execution_id "' || (payload->>'execution_id') || '"');
  END IF;
  IF pipeline AND org IS NOT NULL AND org IS DISTINCT FROM COALESCE(payload->>'org', org) THEN
    PERFORM postbox.refuse(fn, 'org "' || org || '" differs from payload.org "'
                               || (payload->>'org') || '"');
  END IF;
  IF actor_key IS NOT NULL AND COALESCE(queue, '') = ''
     AND NOT EXISTS (SELECT 1 FROM postbox.actor_types a WHERE a.actor_type = actor_type) THEN
    PERFORM postbox.refuse(fn, 'actor type "' || actor_type || '" is not served by any node '
                               || '(no queue is known for it): name the queue');
  END IF;
  INSERT INTO postbox.mailbox (queue, type, execution_id, org, payload, headers, visible_at,
                               actor_type, actor_key)
  VALUES (COALESCE(queue, ''), type,
          NULLIF(COALESCE(execution_id, CASE WHEN jsonb_typeof(payload->'execution_id') = 'string'
                                             THEN payload->>'execution_id' END), ''),
          NULLIF(COALESCE(org, CASE WHEN jsonb_typeof(payload->'org') = 'string'
                                    THEN payload->>'org' END), ''),
          payload, headers, now() + delay, actor_type, actor_key)
  RETURNING id INTO new_id;
  RETURN new_id;
END $$;

REVOKE EXECUTE ON FUNCTION
  postbox.send(text, text, jsonb, jsonb, text, text, interval, text, text),
  postbox.actor_state(text, text)
  FROM PUBLIC;
DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'postbox_client') THEN
    GRANT EXECUTE ON FUNCTION
      postbox.send(text, text, jsonb, jsonb, text, text, interval, text, text),
      postbox.actor_state(text, text)
      TO postbox_client;
  END IF;
END $$;
