-- 022: cron schedules, one message per tick (guarantee 12).
--
-- A schedule is a row: cron + IANA zone + target message. Any node fires it, no leader:
-- in one transaction a node locks the due rows FOR UPDATE SKIP LOCKED, computes the
-- ticks from the database's clock (postbox.clock_now(), never its own), inserts one
-- schedule_ticks row per tick (primary key (name, tick)) with its message, and moves
-- next_tick on with a compare-and-set on its old value. The row lock, the CAS and the
-- primary key each allow one message per tick; a second node skips the locked row and,
-- once the first commits, no longer sees it due.
--
-- The cron is evaluated by the nodes (config/cron.cpp, date/tz): a row whose next_tick
-- is NULL (new from SQL, resumed, or cron/zone changed by a topology) gets it computed
-- from clock_now() by the first node that sees it, in that same kind of transaction.
--
-- A schedule of the topology (defined_by 'topology') is declared by every node at start
-- and its seen_at refreshed while the node runs; one no live node has declared for the
-- stale time (the nodes' setting, 30 s) is not fired: removed from every topology, it
-- stops. One from SQL (defined_by 'sql') runs until postbox.unschedule.

-- Tests pin the database's "now" here (one row); production leaves it empty.
CREATE TABLE postbox.clock_override (
  only_row boolean     PRIMARY KEY DEFAULT true CHECK (only_row),
  now      timestamptz NOT NULL
);

-- The clock of schedules: now(), unless a test pinned it.
CREATE FUNCTION postbox.clock_now() RETURNS timestamptz
LANGUAGE sql STABLE AS $$
  SELECT COALESCE((SELECT c.now FROM postbox.clock_override c), now())
$$;

CREATE TABLE postbox.schedules (
  name            text        PRIMARY KEY CHECK (octet_length(name) BETWEEN 1 AND 200),
  cron            text        NOT NULL,
  timezone        text        NOT NULL DEFAULT 'UTC',
  -- {queue, type, payload[, headers, actor_type, actor_key]}
  target          jsonb       NOT NULL,
  next_tick       timestamptz,          -- NULL: the next node to look computes it
  last_tick       timestamptz,
  last_message_id bigint,               -- overlap 'skip' looks for it in the mailbox
  paused          boolean     NOT NULL DEFAULT false,
  on_missed       text        NOT NULL DEFAULT 'once' CHECK (on_missed IN ('skip', 'once', 'all')),
  catch_up_window interval    NOT NULL DEFAULT '1 day' CHECK (catch_up_window > interval '0'),
  overlap         text        NOT NULL DEFAULT 'allow' CHECK (overlap IN ('allow', 'skip')),
  defined_by      text        NOT NULL CHECK (defined_by IN ('topology', 'sql')),
  seen_at         timestamptz,          -- topology: last declared by a live node
  error           text,                 -- a node could not evaluate it: not fired
  sent            bigint      NOT NULL DEFAULT 0,
  skipped         bigint      NOT NULL DEFAULT 0,
  missed          bigint      NOT NULL DEFAULT 0,  -- ticks not sent on their own
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX schedules_due_idx ON postbox.schedules (next_tick) WHERE NOT paused;

CREATE TABLE postbox.schedule_ticks (
  name       text        NOT NULL,
  tick       timestamptz NOT NULL,
  message_id bigint,
  outcome    text        NOT NULL
             CHECK (outcome IN ('sent', 'triggered', 'skipped_missed', 'skipped_overlap')),
  missed     integer     NOT NULL DEFAULT 0,  -- ticks folded into (or skipped with) this one
  fired_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (name, tick)
);
CREATE INDEX schedule_ticks_fired_idx ON postbox.schedule_ticks (fired_at);

-- The checks a cron expression passes in SQL: 5 or 6 fields (or a macro), each a list of
-- *, N, N-M and /S steps within the field's range. Nodes parse it again (config/cron.cpp).
CREATE FUNCTION postbox.check_cron(fn text, cron text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  fields text[];
  names constant text[] := ARRAY['second', 'minute', 'hour', 'day of month', 'month', 'day of week'];
  lo constant int[] := ARRAY[0, 0, 0, 1, 1, 0];
  hi constant int[] := ARRAY[59, 59, 23, 31, 12, 7];
  item text;
  m text[];
  v text;
  n int;
BEGIN
  IF cron IS NULL THEN PERFORM postbox.refuse(fn, 'cron is required'); END IF;
  IF cron IN ('@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly') THEN
    RETURN;
  END IF;
  fields := regexp_split_to_array(btrim(cron), '\s+');
  IF array_length(fields, 1) NOT IN (5, 6) THEN
    PERFORM postbox.refuse(fn, 'cron ''' || cron || ''' needs 5 fields (minute hour '
                               || 'day-of-month month day-of-week) or 6 (second first), has '
                               || COALESCE(array_length(fields, 1), 0));
  END IF;
  IF array_length(fields, 1) = 5 THEN fields := ARRAY['0'] || fields; END IF;
  FOR i IN 1..6 LOOP
    FOREACH item IN ARRAY string_to_array(fields[i], ',') LOOP
      m := regexp_match(item, '^(\*|([0-9]+|[A-Za-z]{3})(-([0-9]+|[A-Za-z]{3}))?)(/([0-9]+))?$');
      IF m IS NULL OR (m[6] IS NOT NULL AND m[6]::int = 0) THEN
        PERFORM postbox.refuse(fn, 'cron ''' || cron || ''': ' || names[i] || ' field '''
                                   || fields[i] || ''' is not valid');
      END IF;
      FOREACH v IN ARRAY ARRAY[m[2], m[4]] LOOP
        CONTINUE WHEN v IS NULL;
        IF v ~ '^[0-9]+$' THEN
          n := v::int;
          IF n < lo[i] OR n > hi[i] THEN
            PERFORM postbox.refuse(fn, 'cron ''' || cron || ''': ' || names[i] || ' field '''
                                       || fields[i] || ''' is out of range ' || lo[i] || '-' || hi[i]);
          END IF;
        ELSIF NOT ((i = 5 AND upper(v) = ANY (ARRAY['JAN','FEB','MAR','APR','MAY','JUN','JUL',
                                                       'AUG','SEP','OCT','NOV','DEC']))
                   OR (i = 6 AND upper(v) = ANY (ARRAY['SUN','MON','TUE','WED','THU','FRI','SAT']))) THEN
          PERFORM postbox.refuse(fn, 'cron ''' || cron || ''': ' || names[i] || ' field '''
                                     || fields[i] || ''' has an unknown name ''' || v || '''');
        END IF;
      END LOOP;
    END LOOP;
  END LOOP;
END $$;

-- The checks of a schedule's target: what postbox.send needs, known before the first tick.
CREATE FUNCTION postbox.check_schedule_target(fn text, target jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF jsonb_typeof(target) IS DISTINCT FROM 'object' THEN
    PERFORM postbox.refuse(fn, 'target must be a JSON object {queue, type, payload}');
  END IF;
  IF jsonb_typeof(target->'type') IS DISTINCT FROM 'string' OR target->>'type' = '' THEN
    PERFORM postbox.refuse(fn, 'target.type is required');
  END IF;
  IF target ? 'payload' AND jsonb_typeof(target->'payload') <> 'object' THEN
    PERFORM postbox.refuse(fn, 'target.payload must be a JSON object');
  END IF;
  IF target ? 'headers' AND jsonb_typeof(target->'headers') <> 'object' THEN
    PERFORM postbox.refuse(fn, 'target.headers must be a JSON object');
  END IF;
  IF (target ? 'actor_type') <> (target ? 'actor_key') THEN
    PERFORM postbox.refuse(fn, 'target.actor_type and target.actor_key go together');
  END IF;
  IF NOT target ? 'actor_key' AND COALESCE(target->>'queue', '') = '' THEN
    PERFORM postbox.refuse(fn, 'target.queue is required');
  END IF;
END $$;

-- Sends tick `tick` of schedule `name` (row locked by the caller) and records it; the
-- message's id. Headers: the target's, plus schedule, tick (ISO 8601 UTC), missed and,
-- for a tick sent late by on_missed 'all', backfilled.
CREATE FUNCTION postbox.schedule_fire_tick(name text, tick timestamptz, missed integer,
                                           backfilled boolean, outcome text)
RETURNS bigint
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  s postbox.schedules;
  id bigint;
BEGIN
  SELECT * INTO STRICT s FROM postbox.schedules x WHERE x.name = name;
  id := postbox.send(
    queue => NULLIF(s.target->>'queue', ''),
    type => s.target->>'type',
    payload => COALESCE(s.target->'payload', '{}'),
    headers => COALESCE(s.target->'headers', '{}')
               || jsonb_build_object('schedule', name,
                                     'tick', to_char(tick AT TIME ZONE 'UTC',
                                                     'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                                     'missed', missed)
               || CASE WHEN backfilled THEN '{"backfilled": true}'::jsonb ELSE '{}' END,
    actor_type => s.target->>'actor_type',
    actor_key => s.target->>'actor_key');
  INSERT INTO postbox.schedule_ticks (name, tick, message_id, outcome, missed)
  VALUES (name, tick, id, outcome, missed);
  RETURN id;
END $$;

-- SQL API: creates or replaces schedule `name` (defined_by 'sql'). A changed cron or
-- zone (or a new schedule) gets its next tick computed by the first node that looks.
CREATE FUNCTION postbox.schedule(name text, cron text, target jsonb,
                                 timezone text DEFAULT 'UTC', on_missed text DEFAULT 'once',
                                 overlap text DEFAULT 'allow',
                                 catch_up_window interval DEFAULT '1 day')
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
  fn constant text := 'postbox.schedule';
BEGIN
  IF name IS NULL OR octet_length(name) NOT BETWEEN 1 AND 200 THEN
    PERFORM postbox.refuse(fn, 'name must be 1 to 200 bytes');
  END IF;
  PERFORM postbox.check_cron(fn, cron);
  IF timezone IS NULL OR NOT EXISTS (SELECT 1 FROM pg_timezone_names z WHERE z.name = timezone) THEN
    PERFORM postbox.refuse(fn, 'unknown time zone ''' || COALESCE(timezone, 'NULL')
                               || ''' (an IANA name such as Europe/Berlin or UTC)');
  END IF;
  PERFORM postbox.check_schedule_target(fn, target);
  IF on_missed IS NULL OR on_missed NOT IN ('skip', 'once', 'all') THEN
    PERFORM postbox.refuse(fn, 'on_missed must be skip, once or all');
  END IF;
  IF overlap IS NULL OR overlap NOT IN ('allow', 'skip') THEN
    PERFORM postbox.refuse(fn, 'overlap must be allow or skip');
  END IF;
  IF catch_up_window IS NULL OR catch_up_window <= interval '0' THEN
    PERFORM postbox.refuse(fn, 'catch_up_window must be positive');
  END IF;
  -- A topology's schedule belongs to its topology: its nodes re-declare it only at start,
  -- so a change from SQL would stand (or a removal lose ticks) until then.
  IF EXISTS (SELECT 1 FROM postbox.schedules s WHERE s.name = name AND s.defined_by <> 'sql') THEN
    PERFORM postbox.refuse(fn, 'schedule "' || name || '" is defined by the topology: change it there');
  END IF;
  INSERT INTO postbox.schedules AS s (name, cron, timezone, target, on_missed, overlap,
                                      catch_up_window, defined_by)
  VALUES (name, cron, timezone, target, on_missed, overlap, catch_up_window, 'sql')
  ON CONFLICT ON CONSTRAINT schedules_pkey DO UPDATE
    SET cron = EXCLUDED.cron, timezone = EXCLUDED.timezone, target = EXCLUDED.target,
        on_missed = EXCLUDED.on_missed, overlap = EXCLUDED.overlap,
        catch_up_window = EXCLUDED.catch_up_window, defined_by = 'sql',
        next_tick = CASE WHEN s.cron = EXCLUDED.cron AND s.timezone = EXCLUDED.timezone
                         THEN s.next_tick END,
        error = NULL, updated_at = now();
END $$;

-- SQL API: removes schedule `name` (its recorded ticks stay); whether it existed.
CREATE FUNCTION postbox.unschedule(name text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
BEGIN
  IF EXISTS (SELECT 1 FROM postbox.schedules s WHERE s.name = name AND s.defined_by <> 'sql') THEN
    PERFORM postbox.refuse('postbox.unschedule', 'schedule "' || name
                                                 || '" is defined by the topology: remove it there');
  END IF;
  DELETE FROM postbox.schedules s WHERE s.name = name AND s.defined_by = 'sql';
  RETURN FOUND;
END $$;

REVOKE EXECUTE ON FUNCTION
  postbox.schedule(text, text, jsonb, text, text, text, interval),
  postbox.unschedule(text)
  FROM PUBLIC;

DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'postbox_client') THEN
    GRANT EXECUTE ON FUNCTION postbox.schedule(text, text, jsonb, text, text, text, interval),
                              postbox.unschedule(text)
      TO postbox_client;
  END IF;
END $$;
