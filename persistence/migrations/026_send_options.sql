-- 026: the send options together. Dedup keys (023), priorities (024) and limit keys (025)
-- were built side by side, each extending postbox.send; here the SQL API's send, send_dedup and the
-- insert behind them (and behind the nodes' sends with a dedup key) take them all.
-- Existing callers keep working: every new parameter is named, defaulted and last.

-- A dead letter keeps its tier: its retry runs at it (NULL: one dead before 026, normal).
ALTER TABLE postbox.dead_letters ADD COLUMN priority smallint;

DROP FUNCTION postbox.send(text, text, jsonb, jsonb, text, text, interval, text, text, text, text, interval);
DROP FUNCTION postbox.send_dedup(text, text, jsonb, jsonb, text, text, interval, text, text, text, text, interval);
DROP FUNCTION postbox.mailbox_insert_dedup(text, text, text, text, jsonb, jsonb, bigint, text, text,
                                           text, text, bigint);

CREATE FUNCTION postbox.mailbox_insert_dedup(
  q text, t text, e text, o text, p jsonb, h jsonb, delay_ms bigint, a_t text, a_k text,
  k text, dmode text, ttl_ms bigint, lk text, pr smallint, OUT sent_id bigint, OUT is_duplicate boolean)
LANGUAGE plpgsql AS $$
DECLARE
  rq text := q;
  existing bigint;
  taken boolean;
BEGIN
  is_duplicate := false;
  -- NULL: the type's default tier (topology priorities.types), else normal.
  pr := COALESCE(pr, (SELECT tp.priority FROM postbox.type_priorities tp WHERE tp.type = t), 1);
  IF k IS NULL THEN
    INSERT INTO postbox.mailbox (queue, type, execution_id, org, payload, headers, visible_at,
                                 actor_type, actor_key, limit_key, priority)
    VALUES (q, t, e, o, p, h, now() + delay_ms * interval '1 millisecond', a_t, a_k, lk, pr)
    RETURNING id INTO sent_id;
    RETURN;
  END IF;
  IF dmode IS NULL OR dmode NOT IN ('until_done', 'ttl', 'replace') THEN
    RAISE EXCEPTION 'postbox: dedup mode must be until_done, ttl or replace, got %',
                    COALESCE(dmode, 'NULL') USING ERRCODE = '22023';
  END IF;
  IF dmode = 'ttl' AND COALESCE(ttl_ms, 0) <= 0 THEN
    RAISE EXCEPTION 'postbox: dedup mode ttl needs a dedup ttl above zero' USING ERRCODE = '22023';
  END IF;
  IF octet_length(k) NOT BETWEEN 1 AND 512 THEN
    RAISE EXCEPTION 'postbox: a dedup key is 1 to 512 bytes, got %', octet_length(k)
      USING ERRCODE = '22023';
  END IF;
  -- The queue the key lives on: an actor's message without one goes to its type's queue
  -- (the trigger of migration 019 sets it the same way, before the conflict check).
  IF (rq IS NULL OR rq = '') AND a_k IS NOT NULL THEN
    SELECT a.queue INTO rq FROM postbox.actor_types a WHERE a.actor_type = a_t;
  END IF;
  FOR attempt IN 1..50 LOOP
    IF dmode = 'ttl' THEN
      taken := NULL;
      INSERT INTO postbox.dedup_keys AS d (queue, dedup_key, message_id, expires_at)
      VALUES (COALESCE(rq, ''), k, NULL, now() + ttl_ms * interval '1 millisecond')
      ON CONFLICT (queue, dedup_key) DO UPDATE
        SET message_id = NULL, expires_at = EXCLUDED.expires_at
        WHERE d.expires_at <= now()
      RETURNING true INTO taken;
      IF taken IS NULL THEN
        -- Within its window (the row is locked by the conflict: it stays).
        SELECT d.message_id INTO sent_id FROM postbox.dedup_keys d
        WHERE d.queue = COALESCE(rq, '') AND d.dedup_key = k;
        is_duplicate := true;
        RETURN;
      END IF;
    END IF;
    INSERT INTO postbox.mailbox (queue, type, execution_id, org, payload, headers, visible_at,
                                 actor_type, actor_key, dedup_key, limit_key, priority)
    VALUES (q, t, e, o, p, h, now() + delay_ms * interval '1 millisecond', a_t, a_k, k, lk, pr)
    ON CONFLICT (queue, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
    RETURNING id INTO sent_id;
    IF sent_id IS NOT NULL THEN
      IF dmode = 'ttl' THEN
        UPDATE postbox.dedup_keys SET message_id = sent_id
        WHERE queue = COALESCE(rq, '') AND dedup_key = k;
      END IF;
      RETURN;
    END IF;
    -- A live message holds the key.
    IF dmode = 'replace' THEN
      UPDATE postbox.mailbox m SET payload = p, headers = h
      WHERE m.queue = rq AND m.dedup_key = k AND m.receipt IS NULL
      RETURNING m.id INTO existing;
      IF existing IS NOT NULL THEN
        sent_id := existing;
        is_duplicate := true;
        RETURN;
      END IF;
      -- Running: it keeps running and gives up the key; the next round inserts.
      UPDATE postbox.mailbox m SET dedup_key = NULL
      WHERE m.queue = rq AND m.dedup_key = k AND m.receipt IS NOT NULL;
    ELSE
      SELECT m.id INTO existing FROM postbox.mailbox m WHERE m.queue = rq AND m.dedup_key = k;
      IF existing IS NOT NULL THEN
        sent_id := existing;
        is_duplicate := true;
        IF dmode = 'ttl' THEN
          UPDATE postbox.dedup_keys SET message_id = existing
          WHERE queue = COALESCE(rq, '') AND dedup_key = k;
        END IF;
        RETURN;
      END IF;
    END IF;
    -- The holder was acked or dead-lettered since the INSERT saw it: try again.
  END LOOP;
  RAISE EXCEPTION 'postbox: dedup key "%" on queue "%" changed hands 50 times during one send',
                  k, rq USING ERRCODE = '40001';
END $$;
REVOKE EXECUTE ON FUNCTION
  postbox.mailbox_insert_dedup(text, text, text, text, jsonb, jsonb, bigint, text, text, text,
                               text, bigint, text, smallint)
  FROM PUBLIC;

CREATE FUNCTION postbox.send_dedup(queue text, type text, payload jsonb,
                                   headers jsonb DEFAULT '{}',
                                   execution_id text DEFAULT NULL, org text DEFAULT NULL,
                                   delay interval DEFAULT '0',
                                   actor_type text DEFAULT NULL, actor_key text DEFAULT NULL,
                                   dedup_key text DEFAULT NULL,
                                   dedup_mode text DEFAULT 'until_done',
                                   dedup_ttl interval DEFAULT NULL,
                                   limit_key text DEFAULT NULL,
                                   priority text DEFAULT NULL)
RETURNS TABLE (id bigint, duplicate boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
  fn constant text := 'postbox.send';
  pipeline constant boolean :=
    type IN ('execute_workflow', 'process_file_batch', 'execution_callback');
  r record;
  tier smallint;
BEGIN
  tier := postbox.priority_of(fn, priority);
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
  IF jsonb_typeof(headers) = 'object' THEN  -- a continuation's tier, by name
    PERFORM postbox.priority_of(fn || ': headers.on_success', headers->'on_success'->>'priority'),
            postbox.priority_of(fn || ': headers.on_error', headers->'on_error'->>'priority');
  END IF;
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
  IF dedup_key IS NOT NULL AND octet_length(dedup_key) NOT BETWEEN 1 AND 512 THEN
    PERFORM postbox.refuse(fn, 'dedup_key must be 1 to 512 bytes, got ' || octet_length(dedup_key));
  END IF;
  IF dedup_mode IS NULL OR dedup_mode NOT IN ('until_done', 'ttl', 'replace') THEN
    PERFORM postbox.refuse(fn, 'dedup_mode must be until_done, ttl or replace, got '
                               || COALESCE(dedup_mode, 'NULL'));
  END IF;
  IF dedup_mode = 'ttl' AND dedup_key IS NOT NULL
     AND (dedup_ttl IS NULL OR dedup_ttl <= interval '0') THEN
    PERFORM postbox.refuse(fn, 'dedup_mode ttl needs dedup_ttl, an interval above zero');
  END IF;
  IF dedup_mode <> 'ttl' AND dedup_ttl IS NOT NULL THEN
    PERFORM postbox.refuse(fn, 'dedup_ttl goes with dedup_mode ttl');
  END IF;
  IF limit_key IS NOT NULL AND octet_length(limit_key) NOT BETWEEN 1 AND 256 THEN
    PERFORM postbox.refuse(fn, 'limit_key must be 1 to 256 bytes, got ' || octet_length(limit_key));
  END IF;
  SELECT * INTO r FROM postbox.mailbox_insert_dedup(
    COALESCE(queue, ''), type,
    NULLIF(COALESCE(execution_id, CASE WHEN jsonb_typeof(payload->'execution_id') = 'string'
                                       THEN payload->>'execution_id' END), ''),
    NULLIF(COALESCE(org, CASE WHEN jsonb_typeof(payload->'org') = 'string'
                              THEN payload->>'org' END), ''),
    payload, headers, (extract(epoch FROM delay) * 1000)::bigint, actor_type, actor_key,
    dedup_key, dedup_mode, (extract(epoch FROM COALESCE(dedup_ttl, interval '0')) * 1000)::bigint,
    limit_key, tier);
  id := r.sent_id;
  duplicate := r.is_duplicate;
  RETURN NEXT;
END $$;

-- postbox.send returns bigint: the id sent, or the live duplicate's.
CREATE FUNCTION postbox.send(queue text, type text, payload jsonb,
                             headers jsonb DEFAULT '{}',
                             execution_id text DEFAULT NULL, org text DEFAULT NULL,
                             delay interval DEFAULT '0',
                             actor_type text DEFAULT NULL, actor_key text DEFAULT NULL,
                             dedup_key text DEFAULT NULL,
                             dedup_mode text DEFAULT 'until_done',
                             dedup_ttl interval DEFAULT NULL,
                             limit_key text DEFAULT NULL,
                             priority text DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT s.id FROM postbox.send_dedup($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) s
$$;

REVOKE EXECUTE ON FUNCTION
  postbox.send(text, text, jsonb, jsonb, text, text, interval, text, text, text, text, interval, text,
    text),
  postbox.send_dedup(text, text, jsonb, jsonb, text, text, interval, text, text, text, text, interval, text,
    text)
  FROM PUBLIC;
DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'postbox_client') THEN
    GRANT EXECUTE ON FUNCTION
      postbox.send(text, text, jsonb, jsonb, text, text, interval, text, text, text, text, interval, text,
    text),
      postbox.send_dedup(text, text, jsonb, jsonb, text, text, interval, text, text, text, text, interval, text,
    text)
      TO postbox_client;
  END IF;
END $$;

-- A schedule's tick (migration 022) is sent with the dedup key `name@tick` (belt and
-- braces beside the (name, tick) key, the row lock and the CAS on next_tick), and with
-- its target's priority and limit_key when it names them.
CREATE OR REPLACE FUNCTION postbox.schedule_fire_tick(name text, tick timestamptz,
                                                      missed integer, backfilled boolean,
                                                      outcome text)
RETURNS bigint
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  s postbox.schedules;
  id bigint;
  at_text constant text := to_char(tick AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
BEGIN
  SELECT * INTO STRICT s FROM postbox.schedules x WHERE x.name = name;
  id := postbox.send(
    queue => NULLIF(s.target->>'queue', ''),
    type => s.target->>'type',
    payload => COALESCE(s.target->'payload', '{}'),
    headers => COALESCE(s.target->'headers', '{}')
               || jsonb_build_object('schedule', name, 'tick', at_text, 'missed', missed)
               || CASE WHEN backfilled THEN '{"backfilled": true}'::jsonb ELSE '{}' END,
    actor_type => s.target->>'actor_type',
    actor_key => s.target->>'actor_key',
    dedup_key => left(name, 450) || '@' || at_text,
    limit_key => s.target->>'limit_key',
    priority => s.target->>'priority');
  INSERT INTO postbox.schedule_ticks (name, tick, message_id, outcome, missed)
  VALUES (name, tick, id, outcome, missed);
  RETURN id;
END $$;

-- Whether delivery (id, receipt) of a row that holds limit slots (limit_held) still holds
-- the slot of each of its limits with max_in_flight (its queue's, its limit key's): once a
-- slot's lease ended and another claim took it, the delivery is lost (renewals and the
-- "still ours" check use it), else max_in_flight would be exceeded. A row holding none: true.
CREATE FUNCTION postbox.holds_its_slots(p_id bigint, p_receipt bigint, p_queue text,
                                        p_limit_key text, p_limit_held boolean)
RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT NOT p_limit_held OR NOT EXISTS (
    SELECT 1 FROM postbox.limits l
    WHERE l.max_in_flight IS NOT NULL
      AND ((l.scope = 'queue' AND l.key = p_queue) OR (l.scope = 'key' AND l.key = p_limit_key))
      AND NOT EXISTS (SELECT 1 FROM postbox.limit_slots s
                      WHERE s.scope = l.scope AND s.key = l.key AND s.message_id = p_id
                        AND s.receipt = p_receipt))
$$;
