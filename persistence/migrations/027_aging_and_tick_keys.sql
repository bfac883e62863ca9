-- 027: two seams of issue 23 closed.
--
-- 1. Aging under limits. Aging (migration 024) measures how long a message has been ready
--    by its visible_at, and claim_limited moves a throttled message's visible_at to its
--    next token (or slot) time: each claim that throttled a low message made it young
--    again, so under a saturated rate a low message never aged and starved. ready_at
--    keeps when a throttled message first became ready: claim_limited sets it when it
--    sends a message to wait (coalesce: a second wait keeps the first) and clears it when
--    it leases the message; nothing else writes it, so the plain path pays nothing. The
--    aging sweep reads the waiting rows through their own partial index, one range per
--    queue and tier, oldest ready first; the ready rows stay one range of
--    mailbox_claim_idx per tier.
--
-- 2. A schedule tick's dedup key `name@tick` (026) is reserved: a user's send whose key
--    has a tick's form (anything, '@', a UTC time written as the ticks write it) would
--    otherwise hold the key of a tick not yet fired and make that tick a duplicate (sent
--    nothing, guarantee 12). One trigger refuses such a key on every insert (the SQL API,
--    the nodes' sends and batches, fan_out children, continuations, programs, the CLI),
--    unless the message is that tick: its headers name the schedule and the tick (as
--    schedule_fire_tick writes them, and a dead letter's retry keeps them). The C++ and
--    program paths refuse the form early with the same words (include/postbox/dedup.hpp).

ALTER TABLE postbox.mailbox ADD COLUMN ready_at timestamptz;
CREATE INDEX mailbox_wait_age_idx ON postbox.mailbox (queue, priority, ready_at)
  WHERE limit_wait IS NOT NULL;

CREATE FUNCTION postbox.is_tick_dedup_key(k text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT k ~ '.@[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$'
$$;

CREATE FUNCTION postbox.mailbox_tick_key_check() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF postbox.is_tick_dedup_key(NEW.dedup_key)
     AND NEW.dedup_key IS DISTINCT FROM
         left(NEW.headers->>'schedule', 450) || '@' || (NEW.headers->>'tick') THEN
    RAISE EXCEPTION 'postbox: dedup key ''%'' has the form of a schedule tick''s key '
                    '(name@YYYY-MM-DDTHH:MM:SS.sssZ), which is reserved for schedule ticks',
                    NEW.dedup_key USING ERRCODE = '22023';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER mailbox_tick_key BEFORE INSERT ON postbox.mailbox
  FOR EACH ROW WHEN (NEW.dedup_key IS NOT NULL) EXECUTE FUNCTION postbox.mailbox_tick_key_check();

-- The limited claim of 025 with ready_at kept (the two waits set it, the lease clears it).
CREATE OR REPLACE FUNCTION postbox.claim_limited(p_queue text, p_max int, p_vt_ms bigint, p_owner text,
                                      p_incarnation text, p_types text[], p_alive_ms bigint)
RETURNS TABLE (id bigint, receipt bigint, queue text, type text, execution_id text, org text,
               payload text, headers text, read_ct int, last_error text,
               enqueued_epoch float8, attempts int, suspect boolean, actor_type text,
               actor_key text, actor_state_version bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  lease_end  timestamptz := now() + p_vt_ms * interval '1 millisecond';
  ql         postbox.limits%ROWTYPE;
  kl         postbox.limits%ROWTYPE;
  c          record;
  scopes     text[];
  keys       text[];
  maxes      int[];
  rates      float8[];
  bursts     int[];
  full_s     text[] := '{}';
  ids        bigint[] := '{}';
  rcpts      bigint[] := '{}';
  helds      boolean[] := '{}';
  cand_q     boolean[] := '{}';  -- needs a token of the queue's rate
  cand_k     text[] := '{}';     -- the key whose rate it needs a token of, or NULL
  denied_at  timestamptz[] := '{}';
  cand_ks    int[] := '{}';      -- the shard its key's token came from
  -- Rates seen in this claim: scope:key, tokens in sight and the next one's time as
  -- read (unlocked), tokens meant.
  rs_id      text[] := '{}';
  rs_avail   int[] := '{}';
  rs_next    timestamptz[] := '{}';
  rs_need    int[] := '{}';
  sl_id      text[] := '{}';     -- limits with slots seen in this claim, and
  sl_last    int[] := '{}';      -- the slot it took last of each
  tk_s       int[];
  tk_n       int[];
  k          int;
  h          int;
  x          int;
  r          bigint;
  i          int;
  j          int;
  cnt        int;
  admitted   int := 0;
  g          int;
  got_slots  int;
  wait_slot  timestamptz;
  wait_rate  timestamptz;
  t0         timestamptz;
  scanned    int := 0;
  needs_q    boolean;
  needs_k    text;
BEGIN
  SELECT * INTO ql FROM postbox.limits l WHERE l.scope = 'queue' AND l.key = p_queue;
  -- Highest tier first (migration 024), each tier one range of mailbox_claim_idx.
  FOR tier IN REVERSE 3 .. 0 LOOP
    FOR c IN
      SELECT m.id, m.limit_key FROM postbox.mailbox m
      WHERE m.queue = p_queue AND m.priority = tier AND m.visible_at <= now()
        AND (p_types IS NULL OR m.type = ANY (p_types))
        AND NOT (m.receipt IS NOT NULL AND m.alone_on IS NOT NULL AND m.alone_on <> p_incarnation
                 AND m.visible_at > now() - p_alive_ms * interval '1 millisecond'
                 AND EXISTS (SELECT 1 FROM postbox.nodes n
                             WHERE n.incarnation = m.alone_on
                               AND n.heartbeat_at > now() - p_alive_ms * interval '1 millisecond'))
      ORDER BY m.visible_at, m.id
      -- (the bound keeps the estimate small: a plan costed for the whole backlog is
      -- JIT-compiled on every call, which costs more than the claim)
      LIMIT p_max * 8 + 64 - scanned
      FOR UPDATE OF m SKIP LOCKED
    LOOP
      EXIT WHEN cardinality(ids) >= p_max OR scanned >= p_max * 8 + 64;
      scanned := scanned + 1;
      -- The limits of this candidate: its queue's, its key's.
      scopes := '{}'; keys := '{}'; maxes := '{}'; rates := '{}'; bursts := '{}';
      IF ql.scope IS NOT NULL THEN
        scopes := scopes || 'queue'::text; keys := keys || p_queue;
        maxes := maxes || ql.max_in_flight; rates := rates || ql.rate; bursts := bursts || ql.burst;
      END IF;
      IF c.limit_key IS NOT NULL THEN
        SELECT * INTO kl FROM postbox.limits l WHERE l.scope = 'key' AND l.key = c.limit_key;
        IF FOUND THEN
          scopes := scopes || 'key'::text; keys := keys || c.limit_key;
          maxes := maxes || kl.max_in_flight; rates := rates || kl.rate; bursts := bursts || kl.burst;
        END IF;
      END IF;
      -- A limit already found full in this claim: wait without probing again.
      wait_slot := NULL;
      FOR i IN 1 .. coalesce(cardinality(scopes), 0) LOOP
        IF maxes[i] IS NOT NULL AND (scopes[i] || ':' || keys[i]) = ANY (full_s) THEN
          wait_slot := now() + interval '250 milliseconds';
        END IF;
      END LOOP;
      IF wait_slot IS NOT NULL THEN
        UPDATE postbox.mailbox m SET visible_at = wait_slot, limit_wait = 'slot',
            ready_at = coalesce(m.ready_at, m.visible_at) WHERE m.id = c.id;
        CONTINUE;
      END IF;
      -- Rate first, on the shards as this claim read them (once per rate, unlocked) less
      -- what it means to take: no token in sight, no slot.
      wait_rate := NULL; needs_q := false; needs_k := NULL;
      FOR i IN 1 .. coalesce(cardinality(scopes), 0) LOOP
        CONTINUE WHEN rates[i] IS NULL;
        j := array_position(rs_id, scopes[i] || ':' || keys[i]);
        IF j IS NULL THEN
          SELECT a.avail, a.next_at INTO cnt, t0
          FROM postbox.limit_tokens_ahead(scopes[i], keys[i], rates[i], bursts[i]) a;
          rs_id := rs_id || (scopes[i] || ':' || keys[i]); rs_avail := rs_avail || cnt;
          rs_next := rs_next || t0; rs_need := rs_need || 0;
          j := cardinality(rs_id);
        END IF;
        IF rs_need[j] >= rs_avail[j] THEN
          wait_rate := greatest(wait_rate,
            CASE WHEN rs_avail[j] = 0 THEN rs_next[j] + (rs_need[j] / rates[i]) * interval '1 second'
                 ELSE now() + ((rs_need[j] - rs_avail[j] + 1) / rates[i]) * interval '1 second' END);
        END IF;
        IF scopes[i] = 'queue' THEN needs_q := true; ELSE needs_k := keys[i]; END IF;
      END LOOP;
      IF wait_rate IS NOT NULL THEN
        UPDATE postbox.mailbox m SET visible_at = greatest(wait_rate, now()), limit_wait = 'rate',
            ready_at = coalesce(m.ready_at, m.visible_at)
        WHERE m.id = c.id;
        CONTINUE;
      END IF;
      -- Then a slot of each limit with max_in_flight, under a fresh receipt.
      r := nextval('postbox.receipt_seq');
      got_slots := 0; wait_slot := NULL;
      FOR i IN 1 .. coalesce(cardinality(scopes), 0) LOOP
        CONTINUE WHEN maxes[i] IS NULL;
        -- From after the slot this claim took last of the limit (the ones before it
        -- were taken, held or locked a moment ago), then from the first.
        j := array_position(sl_id, scopes[i] || ':' || keys[i]);
        IF j IS NULL THEN
          sl_id := sl_id || (scopes[i] || ':' || keys[i]); sl_last := sl_last || 0;
          j := cardinality(sl_id);
        END IF;
        FOR pass IN 1 .. 2 LOOP
          UPDATE postbox.limit_slots ls SET message_id = c.id, receipt = r, lease_until = lease_end
          WHERE ls.scope = scopes[i] AND ls.key = keys[i]
            AND ls.slot = (SELECT f.slot FROM postbox.limit_slots f
                           WHERE f.scope = scopes[i] AND f.key = keys[i]
                             AND f.slot > sl_last[j] AND f.slot <= maxes[i]
                             AND (f.message_id IS NULL OR f.lease_until <= now())
                           ORDER BY f.slot LIMIT 1
                           FOR UPDATE SKIP LOCKED)
          RETURNING ls.slot INTO x;
          EXIT WHEN FOUND OR sl_last[j] = 0;
          sl_last[j] := 0;
        END LOOP;
        IF x IS NOT NULL THEN
          sl_last[j] := x;
          got_slots := got_slots + 1;
        ELSE
          full_s := full_s || (scopes[i] || ':' || keys[i]);
          SELECT least(min(ls.lease_until), now() + interval '250 milliseconds') INTO wait_slot
          FROM postbox.limit_slots ls
          WHERE ls.scope = scopes[i] AND ls.key = keys[i] AND ls.slot <= maxes[i];
          wait_slot := coalesce(greatest(wait_slot, now()), now() + interval '250 milliseconds');
          EXIT;
        END IF;
      END LOOP;
      IF wait_slot IS NOT NULL THEN
        IF got_slots > 0 THEN
          UPDATE postbox.limit_slots ls SET message_id = NULL, receipt = NULL, lease_until = NULL
          WHERE ls.message_id = c.id AND ls.receipt = r;
        END IF;
        UPDATE postbox.mailbox m SET visible_at = wait_slot, limit_wait = 'slot',
            ready_at = coalesce(m.ready_at, m.visible_at) WHERE m.id = c.id;
        CONTINUE;
      END IF;
      FOR i IN 1 .. coalesce(cardinality(scopes), 0) LOOP
        CONTINUE WHEN rates[i] IS NULL;
        j := array_position(rs_id, scopes[i] || ':' || keys[i]);
        rs_need[j] := rs_need[j] + 1;
      END LOOP;
      ids := ids || c.id; rcpts := rcpts || r; helds := helds || (got_slots > 0);
      cand_q := cand_q || needs_q; cand_k := cand_k || needs_k; cand_ks := cand_ks || NULL::int;
      denied_at := denied_at || NULL::timestamptz;
    END LOOP;
    EXIT WHEN cardinality(ids) >= p_max OR scanned >= p_max * 8 + 64;
  END LOOP;
  -- The tokens, exactly: each key's rate, then the queue's (a candidate a key refused
  -- takes none of the queue's; one the queue refused gives its key's back), each from
  -- the shards no other claim holds (postbox.limit_take). No claim ever waits for a
  -- shard, so claims under one rate do not take turns on a row until each commits.
  FOR j IN 1 .. cardinality(rs_id) LOOP
    CONTINUE WHEN rs_need[j] = 0 OR starts_with(rs_id[j], 'queue:');
    cnt := 0;
    FOR i IN 1 .. cardinality(ids) LOOP
      IF cand_k[i] = substr(rs_id[j], 5) THEN cnt := cnt + 1; END IF;
    END LOOP;
    SELECT l.rate, l.burst INTO kl.rate, kl.burst
    FROM postbox.limits l WHERE l.scope = 'key' AND l.key = substr(rs_id[j], 5);
    SELECT t.shards, t.counts INTO tk_s, tk_n
    FROM postbox.limit_take('key', substr(rs_id[j], 5), kl.rate, kl.burst, cnt) t;
    g := coalesce((SELECT sum(x) FROM unnest(tk_n) x), 0);
    IF g < cnt THEN
      t0 := (SELECT a.next_at FROM postbox.limit_tokens_ahead('key', substr(rs_id[j], 5), kl.rate, kl.burst) a);
    END IF;
    k := 0;
    FOR i IN 1 .. cardinality(ids) LOOP
      CONTINUE WHEN cand_k[i] IS DISTINCT FROM substr(rs_id[j], 5);
      k := k + 1;
      IF k > g THEN
        denied_at[i] := greatest(t0, now()) + ((k - g - 1) / kl.rate) * interval '1 second';
      ELSE  -- the shard its token came from, should the queue refuse it
        h := 0;
        FOR x IN 1 .. cardinality(tk_s) LOOP
          h := h + tk_n[x];
          IF k <= h THEN cand_ks[i] := tk_s[x]; EXIT; END IF;
        END LOOP;
      END IF;
    END LOOP;
  END LOOP;
  IF ql.rate IS NOT NULL AND true = ANY (cand_q) THEN
    cnt := 0;
    FOR i IN 1 .. cardinality(ids) LOOP
      IF cand_q[i] AND denied_at[i] IS NULL THEN cnt := cnt + 1; END IF;
    END LOOP;
    SELECT t.shards, t.counts INTO tk_s, tk_n
    FROM postbox.limit_take('queue', p_queue, ql.rate, ql.burst, cnt) t;
    g := coalesce((SELECT sum(x) FROM unnest(tk_n) x), 0);
    IF g < cnt THEN
      t0 := (SELECT a.next_at FROM postbox.limit_tokens_ahead('queue', p_queue, ql.rate, ql.burst) a);
    END IF;
    k := 0;
    FOR i IN 1 .. cardinality(ids) LOOP
      CONTINUE WHEN NOT cand_q[i] OR denied_at[i] IS NOT NULL;
      k := k + 1;
      IF k > g THEN
        denied_at[i] := greatest(t0, now()) + ((k - g - 1) / ql.rate) * interval '1 second';
        IF cand_k[i] IS NOT NULL AND cand_ks[i] IS NOT NULL THEN
          -- Its key's token back, to the shard it came from (this claim holds it).
          UPDATE postbox.limit_tokens t
          SET tat = t.tat - (postbox.limit_shards(l.burst) / l.rate) * interval '1 second'
          FROM postbox.limits l
          WHERE l.scope = 'key' AND l.key = cand_k[i]
            AND t.scope = 'key' AND t.key = cand_k[i] AND t.shard = cand_ks[i];
        END IF;
      END IF;
    END LOOP;
  END IF;
  -- The refused: their slots go, and they wait for their next token.
  FOR i IN 1 .. cardinality(ids) LOOP
    CONTINUE WHEN denied_at[i] IS NULL;
    IF helds[i] THEN
      UPDATE postbox.limit_slots ls SET message_id = NULL, receipt = NULL, lease_until = NULL
      WHERE ls.message_id = ids[i] AND ls.receipt = rcpts[i];
    END IF;
    UPDATE postbox.mailbox m SET visible_at = greatest(denied_at[i], now()), limit_wait = 'rate',
            ready_at = coalesce(m.ready_at, m.visible_at)
    WHERE m.id = ids[i];
    ids[i] := NULL;
  END LOOP;
  SELECT count(*) INTO admitted FROM unnest(ids) AS x(v) WHERE x.v IS NOT NULL;
  IF admitted = 0 THEN
    RETURN;
  END IF;
  RETURN QUERY
  UPDATE postbox.mailbox m
  SET visible_at = lease_end,
      read_ct = m.read_ct + 1,
      receipt = rcpts[array_position(ids, m.id)],
      limit_held = helds[array_position(ids, m.id)],
      limit_wait = NULL,
      ready_at = NULL,
      lease_owner = p_owner,
      suspect = m.suspect OR m.receipt IS NOT NULL,
      attempts = m.attempts + (m.receipt IS NOT NULL AND m.alone_on IS NOT NULL AND m.alone_on <> p_incarnation
                               AND NOT EXISTS (SELECT 1 FROM postbox.nodes n
                                               WHERE n.incarnation = m.alone_on
                                                 AND n.heartbeat_at > now() - p_alive_ms
                                                                       * interval '1 millisecond'))::int,
      last_error = CASE WHEN m.receipt IS NOT NULL AND m.alone_on IS NOT NULL AND m.alone_on <> p_incarnation
                             AND NOT EXISTS (SELECT 1 FROM postbox.nodes n
                                             WHERE n.incarnation = m.alone_on
                                               AND n.heartbeat_at > now() - p_alive_ms
                                                                     * interval '1 millisecond')
                        THEN 'crashed its node while running alone (on ' || m.alone_on || ')'
                        ELSE m.last_error END,
      alone_on = NULL
  WHERE m.id = ANY (ids)
  RETURNING m.id, m.receipt, m.queue, m.type, m.execution_id, m.org, m.payload::text,
            m.headers::text, m.read_ct, m.last_error,
            extract(epoch FROM m.enqueued_at)::float8,
            m.attempts, m.suspect, m.actor_type, m.actor_key,
            CASE WHEN m.actor_key IS NOT NULL
                 THEN (SELECT a.state_version FROM postbox.actors a
                       WHERE a.actor_type = m.actor_type AND a.actor_key = m.actor_key) END;
END $$;
