-- 019: keyed actors (guarantees 10 and 11). A message may name an actor
-- (actor_type, actor_key); its messages are handled one at a time, in the order their
-- sends committed, and its state commits with the turn that changed it.
--
-- How: a key has at most one claimable message, its head (actors.head_id). Every other
-- message of the key is parked outside the claim's range (visible_at = 'infinity'), so
-- a backlog costs the claim nothing. The order is the commit order: a keyed message is
-- inserted parked and unnumbered; as its transaction commits, a deferred constraint
-- trigger numbers the transaction's messages of each key from the key's actor_seqs row
-- (one upsert per key, its lock held only from then to the commit), so transactions that
-- send to one key take their numbers in the order they commit, a rolled-back send takes
-- none, and an open transaction (a long SQL sender) holds nothing that others wait for.
--
-- Who makes a message the head:
--   the commit of its send, when the key has no head (it takes the actors row with
--     SKIP LOCKED: a key busy with a turn's ack is woken instead, see below);
--   the removal of a head (its ack, its dead letter, a skip), in that transaction, by
--     the AFTER DELETE trigger below: the key's next number becomes the head;
--   postbox.actor_promote(queue), which consumers call before they claim: a send whose
--     commit found the key's actors row busy set actor_seqs.wake (the removal of the
--     head may commit without seeing the send); the promoter makes heads for woken keys
--     that have none. It never waits on a lock: a busy key keeps its wake.
-- Locks: a delivery path takes the head's mailbox row, then the actors row (trigger);
-- an operator's retry or skip does the same (head row first). The commit of a send
-- takes actor_seqs rows (waiting, per key in the order it first sent to them) and then
-- actors rows with SKIP LOCKED; the promoter takes both with SKIP LOCKED. So the only
-- waits are senders' commits on one another's actor_seqs rows, held for the length of
-- a commit.
--
-- State: actors.state (jsonb) and state_version, a number drawn from a sequence at each
-- write (never reused, also when an actor is removed and comes back: a node's cache by
-- version can never mistake an old state for the current one). A turn's ack writes the
-- new state WHERE state_version = the version the turn read (actor_state_put.sql), so a
-- stale delivery can never write it (its ack is refused by the receipt before that, too).
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
CREATE INDEX actor_seqs_wake_idx ON postbox.actor_seqs (queue, actor_type, actor_key) WHERE wake;
CREATE SEQUENCE postbox.actor_state_version_seq;

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
  last_seq       bigint      NOT NULL DEFAULT 0,  -- the number of the last head
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (actor_type, actor_key)
);
CREATE INDEX actors_blocked_idx ON postbox.actors (actor_type) WHERE blocked_at IS NOT NULL;
CREATE INDEX actors_head_idx ON postbox.actors (queue, head_since) WHERE head_id IS NOT NULL;

-- Makes the key's next message (the lowest number after the last head) its head. The
-- caller holds the actors row and has seen head_id IS NULL. Returns the new head's id,
-- or NULL when nothing waits.
CREATE FUNCTION postbox.actor_promote_next(t text, k text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  after bigint;
  next_id bigint;
  next_seq bigint;
BEGIN
  SELECT a.last_seq INTO after FROM postbox.actors a WHERE a.actor_type = t AND a.actor_key = k;
  -- From the last head's number on: the index entries of acked messages before it are
  -- never walked again (they stay until vacuum, and a long snapshot keeps them alive).
  SELECT m.id, m.actor_seq INTO next_id, next_seq FROM postbox.mailbox m
  WHERE m.actor_type = t AND m.actor_key = k AND m.actor_seq > COALESCE(after, 0)
  ORDER BY m.actor_seq LIMIT 1;
  IF next_id IS NULL THEN
    -- A head retried or blocked keeps its number: look from the start (rare).
    SELECT m.id, m.actor_seq INTO next_id, next_seq FROM postbox.mailbox m
    WHERE m.actor_type = t AND m.actor_key = k AND m.actor_seq IS NOT NULL
    ORDER BY m.actor_seq LIMIT 1;
    IF next_id IS NULL THEN RETURN NULL; END IF;
  END IF;
  UPDATE postbox.mailbox SET visible_at = now() WHERE id = next_id;
  UPDATE postbox.actors
  SET head_id = next_id, head_since = now(), last_seq = next_seq, updated_at = now()
  WHERE actor_type = t AND actor_key = k;
  RETURN next_id;
END $$;

-- BEFORE INSERT of a keyed message: its queue (the actor type's when not given; another
-- queue than the type's is refused), and parked, unnumbered, until its commit.
CREATE FUNCTION postbox.actor_on_send() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  type_queue text;
BEGIN
  SELECT a.queue INTO type_queue FROM postbox.actor_types a WHERE a.actor_type = NEW.actor_type;
  IF NEW.queue IS NULL OR NEW.queue = '' THEN
    IF type_queue IS NULL THEN
      RAISE EXCEPTION 'postbox: actor type "%" is not served by any node (no queue is known '
                      'for it): start a node whose registry has it, or name the queue',
                      NEW.actor_type USING ERRCODE = '22023';
    END IF;
    NEW.queue := type_queue;
  ELSIF type_queue IS NOT NULL AND type_queue <> NEW.queue THEN
    RAISE EXCEPTION 'postbox: actor type "%" lives on queue "%", not "%"', NEW.actor_type,
                    type_queue, NEW.queue USING ERRCODE = '22023';
  END IF;
  IF octet_length(NEW.actor_key) NOT BETWEEN 1 AND 256 THEN
    RAISE EXCEPTION 'postbox: an actor key is 1 to 256 bytes, got %', octet_length(NEW.actor_key)
      USING ERRCODE = '22023';
  END IF;
  NEW.actor_seq := NULL;
  NEW.visible_at := 'infinity';
  RETURN NEW;
END $$;
CREATE TRIGGER mailbox_actor_send BEFORE INSERT ON postbox.mailbox
  FOR EACH ROW WHEN (NEW.actor_key IS NOT NULL) EXECUTE FUNCTION postbox.actor_on_send();

-- As a transaction that sent to an actor commits (deferred): numbers its messages of
-- that key, in the order it inserted them, and makes the first the head when the key
-- has none. Fires once per message; the first firing of a key numbers them all, the
-- others find their message numbered. Unnumbered rows this transaction can see are its
-- own: every committed keyed message was numbered by its commit.
CREATE FUNCTION postbox.actor_on_commit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
  base bigint;
  key_queue text;
  head bigint;
BEGIN
  PERFORM 1 FROM postbox.mailbox WHERE id = NEW.id AND actor_seq IS NULL;
  IF NOT FOUND THEN RETURN NULL; END IF;
  SELECT count(*) INTO n FROM postbox.mailbox
  WHERE actor_type = NEW.actor_type AND actor_key = NEW.actor_key AND actor_seq IS NULL;
  INSERT INTO postbox.actor_seqs AS s (actor_type, actor_key, queue, next_seq)
  VALUES (NEW.actor_type, NEW.actor_key, NEW.queue, n)
  ON CONFLICT (actor_type, actor_key) DO UPDATE SET next_seq = s.next_seq + n
  RETURNING s.next_seq - n, s.queue INTO base, key_queue;
  IF key_queue <> NEW.queue THEN
    RAISE EXCEPTION 'postbox: actor %/% lives on queue "%", not "%"', NEW.actor_type,
                    NEW.actor_key, key_queue, NEW.queue USING ERRCODE = '22023';
  END IF;
  IF base = 0 THEN
    -- A new key: its first message is its head at once (nobody else can see the key).
    INSERT INTO postbox.actors (actor_type, actor_key, queue, head_id, head_since, last_seq)
    SELECT NEW.actor_type, NEW.actor_key, NEW.queue, min(id), now(), 1 FROM postbox.mailbox
    WHERE actor_type = NEW.actor_type AND actor_key = NEW.actor_key AND actor_seq IS NULL
    ON CONFLICT DO NOTHING
    RETURNING head_id INTO head;
  END IF;
  UPDATE postbox.mailbox m
  SET actor_seq = base + r.rn,
      visible_at = CASE WHEN m.id = head THEN now() ELSE m.visible_at END
  FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM postbox.mailbox
        WHERE actor_type = NEW.actor_type AND actor_key = NEW.actor_key
          AND actor_seq IS NULL) r
  WHERE m.id = r.id;
  IF head IS NOT NULL THEN RETURN NULL; END IF;
  INSERT INTO postbox.actors (actor_type, actor_key, queue)
  VALUES (NEW.actor_type, NEW.actor_key, NEW.queue) ON CONFLICT DO NOTHING;
  SELECT a.head_id INTO head FROM postbox.actors a
  WHERE a.actor_type = NEW.actor_type AND a.actor_key = NEW.actor_key
  FOR UPDATE SKIP LOCKED;
  IF NOT FOUND THEN
    -- A turn of the key is committing its ack: it may not see these messages; the
    -- promoter looks once this commit is done.
    UPDATE postbox.actor_seqs SET wake = true
    WHERE actor_type = NEW.actor_type AND actor_key = NEW.actor_key;
  ELSIF head IS NULL THEN
    PERFORM postbox.actor_promote_next(NEW.actor_type, NEW.actor_key);
  END IF;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER mailbox_actor_commit AFTER INSERT ON postbox.mailbox
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW WHEN (NEW.actor_key IS NOT NULL) EXECUTE FUNCTION postbox.actor_on_commit();

-- AFTER DELETE of a keyed message (ack, dead letter, skip, drop): when it was the
-- head, the key's next message becomes the head in the same transaction.
CREATE FUNCTION postbox.actor_on_remove() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE postbox.actors
  SET head_id = NULL, head_since = NULL, blocked_at = NULL, blocked_reason = NULL,
      turns = turns + 1
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
-- when the key is not blocked. The head's row first, then the actors row, as a
-- delivery's ack takes them.
CREATE FUNCTION postbox.actor_retry(t text, k text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  head bigint;
BEGIN
  UPDATE postbox.mailbox m
  SET visible_at = now(), attempts = 0, read_ct = 0, suspect = false, alone_on = NULL,
      receipt = NULL
  FROM postbox.actors a
  WHERE a.actor_type = t AND a.actor_key = k AND a.blocked_at IS NOT NULL AND m.id = a.head_id
  RETURNING m.id INTO head;
  IF head IS NULL THEN RETURN NULL; END IF;
  UPDATE postbox.actors SET blocked_at = NULL, blocked_reason = NULL, updated_at = now()
  WHERE actor_type = t AND actor_key = k AND head_id = head;
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
