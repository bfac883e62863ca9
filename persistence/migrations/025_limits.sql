-- 025: cluster-wide concurrency and rate limits (guarantee 13, second half).
--
-- A limit applies per queue (scope 'queue', key = the queue's name) or per limit key
-- (scope 'key', key = a message's limit_key, e.g. an org or the API it calls); a
-- message under both takes from both. Limits come from the topology (queues.<q> and
-- limits.<k>), written here at node start (limits_upsert.sql, limit_slots_sync.sql).
--
-- max_in_flight: N slot rows per limit. A claimed message takes a free slot and the
-- slot's lease follows the message's: the claim sets lease_until to the message's
-- visible_at, a renewal extends it (trigger below), an ack, nack, fail or dead letter
-- releases it (trigger below, fenced by the receipt). A slot is free when it has no
-- message or its lease has ended, so a crashed holder frees its slot when its lease
-- ends and nothing is ever decremented (hatchet#4494). Admission takes a slot with
-- UPDATE ... WHERE <the slot row's own columns> and FOR UPDATE SKIP LOCKED: the
-- re-check after the lock reads the latest row version, never a count over the
-- statement's snapshot (which over-admits under concurrency, hatchet#4778).
--
-- rate + burst: GCRA (tat, the theoretical arrival time) on S token shards of the
-- limit (postbox.limit_tokens, S = limit_shards(burst), 1 to 8): shard i has rate
-- rate/S and burst b_i (the b_i sum to burst); a token of a shard is granted when
-- greatest(tat, now()) - now() <= (b_i - 1) / (rate/S), and then its tat moves by
-- S / rate. Each shard keeps its own GCRA bound (at most rate/S * window + b_i in
-- any window), so the limit keeps rate * window + burst. A claim takes its tokens
-- from shards it locks with FOR UPDATE SKIP LOCKED (re-reading the latest tat): the
-- lock lasts to the claim's commit, and with one row every claim under a rate waited
-- for the previous one's commit (its WAL flush); with shards they take other shards.
-- Rate is checked before a slot is taken: a throttled message never holds a slot
-- (hatchet#4804); its visible_at moves to its next token time, so no claim rescans
-- it meanwhile.
--
-- Cost: a queue without limits keeps the plain claim (mailbox_read.sql); nodes use
-- postbox.claim_limited (mailbox_read_limited.sql) only on queues their topology
-- limits, or everywhere once it has limits per key. Rows that never held a slot never
-- run the triggers (WHEN OLD.limit_held).

ALTER TABLE postbox.mailbox
  ADD COLUMN limit_key text,
  -- Whether the row holds slots under its current receipt (set by claim_limited).
  ADD COLUMN limit_held boolean NOT NULL DEFAULT false,
  -- Why claim_limited put it back: 'rate' (waits for a token) or 'slot' (waits for a
  -- free slot); NULL otherwise. For postbox queues and /metrics.
  ADD COLUMN limit_wait text;
ALTER TABLE postbox.mailbox ADD CONSTRAINT mailbox_limit_check
  CHECK ((limit_key IS NULL OR octet_length(limit_key) BETWEEN 1 AND 256)
         AND (limit_wait IS NULL OR limit_wait IN ('rate', 'slot')));
ALTER TABLE postbox.dead_letters ADD COLUMN limit_key text;
-- The rows waiting for a token or a slot (postbox queues, /metrics): few, by design.
CREATE INDEX mailbox_limit_wait_idx ON postbox.mailbox (queue, limit_key)
  WHERE limit_wait IS NOT NULL;

CREATE TABLE postbox.limits (
  scope         text             NOT NULL CHECK (scope IN ('queue', 'key')),
  key           text             NOT NULL,
  max_in_flight int              CHECK (max_in_flight IS NULL OR max_in_flight BETWEEN 1 AND 100000),
  rate          double precision CHECK (rate IS NULL OR rate > 0),
  burst         int              CHECK (burst IS NULL OR burst >= 1),
  updated_at    timestamptz      NOT NULL DEFAULT now(),
  PRIMARY KEY (scope, key),
  CHECK ((rate IS NULL) = (burst IS NULL))
);

CREATE TABLE postbox.limit_slots (
  scope       text        NOT NULL,
  key         text        NOT NULL,
  slot        int         NOT NULL,
  message_id  bigint,
  receipt     bigint,
  lease_until timestamptz,
  PRIMARY KEY (scope, key, slot),
  FOREIGN KEY (scope, key) REFERENCES postbox.limits (scope, key) ON DELETE CASCADE
);
CREATE INDEX limit_slots_message_idx ON postbox.limit_slots (message_id)
  WHERE message_id IS NOT NULL;

-- The token shards of a limit with a rate (made by the trigger below).
CREATE TABLE postbox.limit_tokens (
  scope text        NOT NULL,
  key   text        NOT NULL,
  shard int         NOT NULL,
  tat   timestamptz NOT NULL DEFAULT '-infinity',
  PRIMARY KEY (scope, key, shard),
  FOREIGN KEY (scope, key) REFERENCES postbox.limits (scope, key) ON DELETE CASCADE
);

-- How many shards a burst is cut into: each keeps a burst of 4 or more (a shard no
-- claim visits for burst_i / rate_i seconds stops gaining tokens), at most 8.
CREATE FUNCTION postbox.limit_shards(p_burst int) RETURNS int
LANGUAGE sql IMMUTABLE AS $$ SELECT greatest(1, least(8, p_burst / 4)) $$;

-- A limit's shards follow its rate and burst: a new limit, or a changed rate or burst,
-- starts afresh (every tat '-infinity', a full bucket); an unchanged one keeps them.
CREATE FUNCTION postbox.limit_tokens_sync() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.rate IS NOT DISTINCT FROM NEW.rate
     AND OLD.burst IS NOT DISTINCT FROM NEW.burst THEN
    RETURN NULL;
  END IF;
  DELETE FROM postbox.limit_tokens t WHERE t.scope = NEW.scope AND t.key = NEW.key;
  IF NEW.rate IS NOT NULL THEN
    INSERT INTO postbox.limit_tokens (scope, key, shard)
    SELECT NEW.scope, NEW.key, g FROM generate_series(0, postbox.limit_shards(NEW.burst) - 1) g;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER limits_tokens_sync AFTER INSERT OR UPDATE OF rate, burst ON postbox.limits
  FOR EACH ROW EXECUTE FUNCTION postbox.limit_tokens_sync();

-- The tokens in sight of a rate now, and when its next one comes (the earliest shard's),
-- as last committed: no lock (the claim's check before it takes a slot).
CREATE FUNCTION postbox.limit_tokens_ahead(p_scope text, p_key text, p_rate float8, p_burst int,
                                           OUT avail int, OUT next_at timestamptz)
LANGUAGE sql STABLE AS $$
  SELECT coalesce(sum(greatest(0, floor(s.b - extract(epoch FROM greatest(t.tat, now()) - now())
                                            * s.r + 1e-9)))::int, 0),
         min(t.tat - ((s.b - 1) / s.r) * interval '1 second')
  FROM postbox.limit_tokens t,
       LATERAL (SELECT p_rate / postbox.limit_shards(p_burst) AS r,
                       p_burst / postbox.limit_shards(p_burst)
                       + (t.shard < p_burst % postbox.limit_shards(p_burst))::int AS b) s
  WHERE t.scope = p_scope AND t.key = p_key
$$;

-- Takes up to p_n tokens of a rate, shard by shard: each shard with a token that no
-- other claim holds, locked (FOR UPDATE SKIP LOCKED re-reads its latest tat) and moved
-- by what it grants; a shard another claim holds is skipped, never waited for. Returns
-- the shards taken from and how many from each (sum < p_n: the rest is refused).
CREATE FUNCTION postbox.limit_take(p_scope text, p_key text, p_rate float8, p_burst int, p_n int,
                                   OUT shards int[], OUT counts int[])
LANGUAGE plpgsql AS $$
DECLARE
  s   int := postbox.limit_shards(p_burst);
  r   float8 := p_rate / postbox.limit_shards(p_burst);
  rot int := pg_backend_pid() % postbox.limit_shards(p_burst);  -- spreads the claimers
  sh  int;
  t0  timestamptz;
  b   int;
  g   int;
  got int := 0;
BEGIN
  shards := '{}'; counts := '{}';
  WHILE got < p_n LOOP
    SELECT t.shard, greatest(t.tat, now()) INTO sh, t0
    FROM postbox.limit_tokens t
    WHERE t.scope = p_scope AND t.key = p_key AND t.shard <> ALL (shards)
      AND greatest(t.tat, now()) - now()
          <= ((p_burst / s + (t.shard < p_burst % s)::int - 1) / r) * interval '1 second'
    ORDER BY (t.shard + s - rot) % s
    LIMIT 1
    FOR UPDATE SKIP LOCKED;
    EXIT WHEN NOT FOUND;
    b := p_burst / s + (sh < p_burst % s)::int;
    g := least(p_n - got, greatest(0, floor(b - extract(epoch FROM t0 - now()) * r + 1e-9)::int));
    IF g > 0 THEN
      UPDATE postbox.limit_tokens t SET tat = t0 + (g / r) * interval '1 second'
      WHERE t.scope = p_scope AND t.key = p_key AND t.shard = sh;
    END IF;
    shards := shards || sh; counts := counts || g;
    got := got + g;
  END LOOP;
END $$;

-- A held row's receipt changes (nack, fail, a new claim), it is put back to wait by
-- claim_limited (limit_wait set: an abandoned delivery, its slot to be let go), or it
-- is renewed. The slot is fenced by (message id, receipt): a slot another message or a
-- later claim took no longer matches, so a renewal extends only a slot still its own
-- (also one whose lease ran out while nobody took it).
CREATE FUNCTION postbox.limit_slots_follow() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.receipt IS DISTINCT FROM OLD.receipt OR NEW.limit_wait IS NOT NULL THEN
    UPDATE postbox.limit_slots SET message_id = NULL, receipt = NULL, lease_until = NULL
    WHERE message_id = OLD.id AND receipt = OLD.receipt;
    IF NEW.receipt IS NULL OR NEW.limit_wait IS NOT NULL THEN
      NEW.limit_held := false;
    END IF;
  ELSIF NEW.visible_at IS DISTINCT FROM OLD.visible_at AND NEW.receipt IS NOT NULL THEN
    UPDATE postbox.limit_slots SET lease_until = NEW.visible_at
    WHERE message_id = OLD.id AND receipt = OLD.receipt;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER mailbox_limit_follow BEFORE UPDATE ON postbox.mailbox
  FOR EACH ROW WHEN (OLD.limit_held) EXECUTE FUNCTION postbox.limit_slots_follow();

-- Ack, dead letter, cancel: the row leaves, its slots are free.
CREATE FUNCTION postbox.limit_slots_release() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE postbox.limit_slots SET message_id = NULL, receipt = NULL, lease_until = NULL
  WHERE message_id = OLD.id AND receipt = OLD.receipt;
  RETURN NULL;
END $$;
CREATE TRIGGER mailbox_limit_release AFTER DELETE ON postbox.mailbox
  FOR EACH ROW WHEN (OLD.limit_held) EXECUTE FUNCTION postbox.limit_slots_release();

-- The limited claim: mailbox_read.sql's own-queue part (no orphan sweep: the caller
-- runs the plain claim for orphans only), admitting each candidate through its limits.
-- Scans at most p_max * 8 + 64 candidates. Per candidate: a limit already full in this
-- claim sends it to wait; the rate is checked first against the limits row as this
-- claim last read its shards (once per rate, no lock: a candidate with no token in
-- sight never takes a slot) less the tokens it means to take; then a slot per
-- max_in_flight limit. At the end the tokens are taken exactly (postbox.limit_take:
-- key rates, then the queue's), from shards no other claim holds, locked from there
-- to the commit; a candidate refused then lets its slots go in this same transaction
-- (nobody ever saw them held) and waits for its next token. A throttled candidate moves to its next token time,
-- one waiting for a slot to when the earliest slot's lease ends (at most 250 ms: an
-- ack frees a slot earlier), so a busy limit does not hide other keys' messages.
CREATE FUNCTION postbox.claim_limited(p_queue text, p_max int, p_vt_ms bigint, p_owner text,
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
        UPDATE postbox.mailbox m SET visible_at = wait_slot, limit_wait = 'slot' WHERE m.id = c.id;
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
        UPDATE postbox.mailbox m SET visible_at = greatest(wait_rate, now()), limit_wait = 'rate'
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
        UPDATE postbox.mailbox m SET visible_at = wait_slot, limit_wait = 'slot' WHERE m.id = c.id;
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
    UPDATE postbox.mailbox m SET visible_at = greatest(denied_at[i], now()), limit_wait = 'rate'
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


-- The SQL API's send takes limit_key from migration 026 (with 023's dedup keys).
