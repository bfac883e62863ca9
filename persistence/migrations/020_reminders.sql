-- 020: reminders and timers of keyed actors (guarantee 11's second half), and the
-- retirement of idle actors.
--
-- A reminder is a row per (actor_type, actor_key, name), written (or deleted) in the ack
-- of the turn that set (or cancelled) it, so it exists exactly when that turn committed.
-- Setting it again gives it a new generation (one sequence for all, so a cancelled and
-- re-set reminder is newer too). A timer (send_after) is a row holding a whole message.
--
-- Firing needs no leader: consumers of queues that serve actor types call
-- postbox.fire_due(queue) before they claim. It locks due rows FOR UPDATE SKIP LOCKED
-- and, in one transaction, inserts each one's message (through the keyed send: the
-- trigger of migration 019 numbers and parks it) and moves the reminder on from the
-- database's now(), or deletes the timer. A second node skips the locked row and, once
-- it commits, no longer sees it due: one message per due time.
--
-- A reminder's message is a turn of its actor, of type 'postbox.reminder:<actor_type>',
-- with {name, due, due_ms, missed, generation}. When that turn comes, the runtime reads
-- the reminder's row: gone or of another generation (cancelled or set again by a turn
-- in between), the message is acked without running the handler. A fired one-shot
-- stays (due_at 'infinity') until that turn, which deletes it by its generation.
--
-- Lock order: a turn's ack holds its actors row and then writes its reminders (before
-- its sends); fire_due holds reminder rows and takes actor_seqs rows with SKIP LOCKED
-- (a key a sender holds is fired at the next call), so it never waits on a sender.

CREATE SEQUENCE postbox.reminder_generation_seq;

CREATE TABLE postbox.reminders (
  actor_type text        NOT NULL,
  actor_key  text        NOT NULL,
  name       text        NOT NULL CHECK (octet_length(name) BETWEEN 1 AND 256),
  queue      text        NOT NULL,  -- the actor's queue: its consumers fire it
  due_at     timestamptz NOT NULL,  -- next due time; 'infinity': a fired one-shot
  period     interval CHECK (period IS NULL OR period >= interval '1 second'),  -- NULL: once
  on_missed  text        NOT NULL DEFAULT 'once' CHECK (on_missed IN ('once', 'all')),
  generation bigint      NOT NULL DEFAULT nextval('postbox.reminder_generation_seq'),
  fired      bigint      NOT NULL DEFAULT 0,  -- messages sent for this generation
  fired_id   bigint,                          -- the last one
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (actor_type, actor_key, name)
);
CREATE INDEX reminders_due_idx ON postbox.reminders (queue, due_at);

CREATE TABLE postbox.timers (
  id           bigserial   PRIMARY KEY,
  fire_queue   text        NOT NULL,  -- the queue of the turn that set it: its consumers fire it
  due_at       timestamptz NOT NULL,
  queue        text        NOT NULL DEFAULT '',  -- '' with an actor: the actor type's
  type         text        NOT NULL,
  payload      jsonb       NOT NULL,
  headers      jsonb       NOT NULL DEFAULT '{}',
  execution_id text,
  org          text,
  actor_type   text,
  actor_key    text,
  set_by_type  text,
  set_by_key   text,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX timers_due_idx ON postbox.timers (fire_queue, due_at);

-- Idle actors are found by age without scanning those that hold state.
CREATE INDEX actors_stateless_idx ON postbox.actors (updated_at) WHERE state IS NULL;

-- True when this transaction may send to (t, k) without waiting: it holds the key's
-- actor_seqs row now (SKIP LOCKED), or the key has none (a new key).
CREATE FUNCTION postbox.actor_key_free(t text, k text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM postbox.actor_seqs s WHERE s.actor_type = t AND s.actor_key = k
  FOR UPDATE SKIP LOCKED;
  IF FOUND THEN RETURN true; END IF;
  RETURN NOT EXISTS (SELECT 1 FROM postbox.actor_seqs s
                     WHERE s.actor_type = t AND s.actor_key = k);
END $$;

-- The message of reminder `r` for due time `due`, `missed` ticks folded into it.
CREATE FUNCTION postbox.reminder_send(r postbox.reminders, due timestamptz, missed bigint)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  new_id bigint;
BEGIN
  INSERT INTO postbox.mailbox (queue, type, payload, headers, actor_type, actor_key)
  VALUES (r.queue, 'postbox.reminder:' || r.actor_type,
          jsonb_build_object(
            'name', r.name,
            'due', to_char(due AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
            'due_ms', floor(extract(epoch FROM due) * 1000)::bigint,
            'missed', missed, 'generation', r.generation),
          '{}', r.actor_type, r.actor_key)
  RETURNING id INTO new_id;
  RETURN new_id;
END $$;

-- Fires up to `max` due reminders and timers of queue `q`; returns the messages sent.
-- Periods missed while nobody fired: one message with missed = N (on_missed 'once'), or
-- one per due time (on_missed 'all', at most 1,000 per reminder and call: the rest at
-- the next call). A timer whose message cannot be sent any more (its actor type moved
-- to another queue) is dead-lettered with the reason, never retried forever.
CREATE FUNCTION postbox.fire_due(q text, max integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  r postbox.reminders;
  t postbox.timers;
  sent integer := 0;
  n bigint;
  due timestamptz;
  last_id bigint;
BEGIN
  FOR r IN SELECT * FROM postbox.reminders x
           WHERE x.queue = q AND x.due_at <= now()
           ORDER BY x.due_at LIMIT max
           FOR UPDATE SKIP LOCKED LOOP
    CONTINUE WHEN NOT postbox.actor_key_free(r.actor_type, r.actor_key);
    IF r.period IS NULL THEN
      last_id := postbox.reminder_send(r, r.due_at, 0);
      sent := sent + 1;
      UPDATE postbox.reminders SET due_at = 'infinity', fired = fired + 1, fired_id = last_id,
                                   updated_at = now()
      WHERE actor_type = r.actor_type AND actor_key = r.actor_key AND name = r.name;
    ELSIF r.on_missed = 'once' THEN
      n := floor(extract(epoch FROM now() - r.due_at) / extract(epoch FROM r.period))::bigint;
      due := r.due_at + n * r.period;
      last_id := postbox.reminder_send(r, due, n);
      sent := sent + 1;
      UPDATE postbox.reminders SET due_at = due + r.period, fired = fired + 1,
                                   fired_id = last_id, updated_at = now()
      WHERE actor_type = r.actor_type AND actor_key = r.actor_key AND name = r.name;
    ELSE
      due := r.due_at;
      n := 0;
      WHILE due <= now() AND n < 1000 LOOP
        last_id := postbox.reminder_send(r, due, 0);
        n := n + 1;
        due := due + r.period;
      END LOOP;
      sent := sent + n;
      UPDATE postbox.reminders SET due_at = due, fired = fired + n, fired_id = last_id,
                                   updated_at = now()
      WHERE actor_type = r.actor_type AND actor_key = r.actor_key AND name = r.name;
    END IF;
  END LOOP;
  FOR t IN SELECT * FROM postbox.timers x
           WHERE x.fire_queue = q AND x.due_at <= now()
           ORDER BY x.due_at LIMIT max
           FOR UPDATE SKIP LOCKED LOOP
    CONTINUE WHEN t.actor_key IS NOT NULL
                  AND NOT postbox.actor_key_free(t.actor_type, t.actor_key);
    BEGIN
      INSERT INTO postbox.mailbox (queue, type, payload, headers, execution_id, org,
                                   actor_type, actor_key)
      VALUES (t.queue, t.type, t.payload, t.headers, t.execution_id, t.org, t.actor_type,
              t.actor_key);
      sent := sent + 1;
    EXCEPTION WHEN OTHERS THEN
      INSERT INTO postbox.dead_letters (message_id, queue, type, execution_id, org, payload,
                                        headers, enqueued_at, read_ct, reason, dead_by,
                                        actor_type, actor_key)
      VALUES (0, COALESCE(NULLIF(t.queue, ''), t.fire_queue), t.type, t.execution_id, t.org,
              t.payload, t.headers, t.created_at, 0,
              'timer ' || t.id || ' could not be sent: ' || SQLERRM, 'fire_due',
              t.actor_type, t.actor_key);
    END;
    DELETE FROM postbox.timers WHERE id = t.id;
  END LOOP;
  RETURN sent;
END $$;

-- Retention: deletes up to `max` idle actors — no state, no head, no queued message, not
-- blocked, no reminder — last changed before now() - `older`. Never waits and never
-- races a send: it takes the key's actor_seqs row first (SKIP LOCKED: a sender holding
-- it keeps the key), then the actors row, and looks at the mailbox only after both are
-- held. A send that comes after the delete waits for it and then finds no key: it
-- starts a new one (its message the head), as for a key never seen.
CREATE FUNCTION postbox.actor_retire_idle(older interval, max integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  r record;
  gone integer := 0;
BEGIN
  FOR r IN SELECT a.actor_type, a.actor_key FROM postbox.actors a
           WHERE a.state IS NULL AND a.updated_at < now() - older
             AND a.head_id IS NULL AND a.blocked_at IS NULL
             AND NOT EXISTS (SELECT 1 FROM postbox.reminders x
                             WHERE x.actor_type = a.actor_type AND x.actor_key = a.actor_key)
           ORDER BY a.updated_at LIMIT max LOOP
    CONTINUE WHEN NOT postbox.actor_key_free(r.actor_type, r.actor_key);
    PERFORM 1 FROM postbox.actors a
    WHERE a.actor_type = r.actor_type AND a.actor_key = r.actor_key
      AND a.state IS NULL AND a.head_id IS NULL AND a.blocked_at IS NULL
    FOR UPDATE SKIP LOCKED;
    CONTINUE WHEN NOT FOUND;
    -- Both rows held; what committed before is visible to these statements.
    CONTINUE WHEN EXISTS (SELECT 1 FROM postbox.mailbox m
                          WHERE m.actor_type = r.actor_type AND m.actor_key = r.actor_key);
    CONTINUE WHEN EXISTS (SELECT 1 FROM postbox.reminders x
                          WHERE x.actor_type = r.actor_type AND x.actor_key = r.actor_key);
    DELETE FROM postbox.actor_seqs WHERE actor_type = r.actor_type AND actor_key = r.actor_key;
    DELETE FROM postbox.actors WHERE actor_type = r.actor_type AND actor_key = r.actor_key;
    gone := gone + 1;
  END LOOP;
  RETURN gone;
END $$;
