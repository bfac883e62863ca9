-- 028: limits while a topology change rolls out (guarantee 13), and a set-based
-- limited claim.
--
-- 1. A removed limit (limits_prune.sql) is no longer deleted with its slots while
--    messages hold them: its max_in_flight, rate and burst become NULL (it limits
--    nothing at once) and the row with its slots stays until a later node start finds
--    none of them held. A limit added again meanwhile (a rolling restart: the next node
--    started still has it) sees its held slots.
--
-- 2. A lowered max_in_flight (limit_slots_sync.sql keeps held slots above the new max
--    until released): a holder above max counts. While a slot above max exists, the
--    claim moves such holders into free slots at or below max, deletes the free slots
--    above it (postbox.limit_slots_settle) and admits nothing under the limit while a
--    live holder above max remains, so a claim admits only while fewer than max
--    deliveries hold slots. The move locks the holder's mailbox row (FOR NO
--    KEY UPDATE SKIP LOCKED) with its slot: the holder's renewal, ack, nack or dead
--    letter updates or deletes that row, so it waits for the move's commit, and its
--    triggers (limit_slots_follow, limit_slots_release, statements of a volatile
--    function: a snapshot of their own, taken after the wait) find the holder by
--    (message id, receipt) in its new slot. A holder whose row is being changed right
--    now is skipped (not moved) and keeps the limit closed for this claim. A claim never
--    takes a slot above max, so the count of holders above max can only fall: read
--    from a snapshot, it is never too small.
--
-- 3. claim_limited admits set-based: per round of candidates (as many as the batch
--    still lacks), the rate check once per limit per claim (unlocked, in memory), then
--    one statement locking the free slots per limit (FOR UPDATE SKIP LOCKED, the re-check
--    after the lock reads the latest row version), one writing them (joined to the
--    candidates in order), one for the round's waits; key limits are read once per key
--    per claim and only for candidates with a limit_key. Everything else as in 025/027:
--    rate before slot, a throttled message holds no slot and moves to its next token
--    time (ready_at kept, 027), one index range per tier, highest first, SKIP LOCKED,
--    the exact tokens taken at the end (postbox.limit_take).

-- Moves the live holders of slots above p_max into free slots at or below it (see 2.
-- above) and deletes the free slots above it (a sync keeps the held ones, let go
-- since); returns how many live holders above p_max remain. The claim calls it only
-- while a slot above max_in_flight exists (max(slot): the pkey's last entry).
CREATE FUNCTION postbox.limit_slots_settle(p_scope text, p_key text, p_max int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
  remain int;
BEGIN
  WITH src AS (
    SELECT h.*, row_number() OVER (ORDER BY h.slot) AS rn
    FROM (SELECT s.slot, s.message_id, s.receipt, s.lease_until
          FROM postbox.limit_slots s
          JOIN postbox.mailbox m ON m.id = s.message_id AND m.receipt = s.receipt
          WHERE s.scope = p_scope AND s.key = p_key AND s.slot > p_max
            AND s.lease_until > now()
          FOR NO KEY UPDATE OF s, m SKIP LOCKED) h
  ), dst AS (
    SELECT f.slot, row_number() OVER (ORDER BY f.slot) AS rn
    FROM (SELECT f.slot FROM postbox.limit_slots f
          WHERE f.scope = p_scope AND f.key = p_key AND f.slot <= p_max
            AND (f.message_id IS NULL OR f.lease_until <= now())
          ORDER BY f.slot
          LIMIT (SELECT count(*) FROM src)
          FOR NO KEY UPDATE SKIP LOCKED) f
  ), moved AS (
    SELECT src.slot AS from_slot, dst.slot AS to_slot, src.message_id, src.receipt,
           src.lease_until
    FROM src JOIN dst USING (rn)
  ), freed AS (
    UPDATE postbox.limit_slots ls SET message_id = NULL, receipt = NULL, lease_until = NULL
    FROM moved
    WHERE ls.scope = p_scope AND ls.key = p_key AND ls.slot = moved.from_slot
  )
  UPDATE postbox.limit_slots ls
  SET message_id = moved.message_id, receipt = moved.receipt, lease_until = moved.lease_until
  FROM moved
  WHERE ls.scope = p_scope AND ls.key = p_key AND ls.slot = moved.to_slot;
  DELETE FROM postbox.limit_slots ls
  WHERE ls.scope = p_scope AND ls.key = p_key
    AND ls.slot IN (SELECT f.slot FROM postbox.limit_slots f
                    WHERE f.scope = p_scope AND f.key = p_key AND f.slot > p_max
                      AND (f.lease_until IS NULL OR f.lease_until <= now())
                    FOR UPDATE SKIP LOCKED);
  SELECT count(*) INTO remain FROM postbox.limit_slots s
  WHERE s.scope = p_scope AND s.key = p_key AND s.slot > p_max AND s.lease_until > now();
  RETURN remain;
END $$;

-- The limited claim (025, with 027's ready_at), set-based. Scans at most p_max * 8 + 64
-- candidates in rounds: as many as the batch still lacks (all the rest once the queue's
-- own limit is exhausted: they all wait), highest tier first, one range of
-- mailbox_claim_idx per tier (the Limit above the Append stops pulling, and locking,
-- once it has enough). Per round, in claim order: a candidate under a limit already
-- found full in this claim waits for a slot; then the rate, on the shards as this claim
-- read them (once per rate, no lock) less the tokens it means to take: no token in
-- sight, it waits for its next token and takes no slot; then a slot of each limit with
-- max_in_flight: the free slots (one per candidate at most) locked by one statement for
-- the queue's limit and one for the keys' (FOR UPDATE SKIP LOCKED), handed out in claim
-- order and written by one statement each; a candidate short of a slot waits for the
-- earliest lease's end (at most 250 ms: an ack frees one earlier) and gives its token
-- back; the round's waits are one UPDATE. A limit with live holders above its
-- max_in_flight (lowered) admits nothing (postbox.limit_slots_settle). At the end the
-- tokens are taken exactly (postbox.limit_take: key rates, then the queue's) from
-- shards no other claim holds; a candidate refused then lets its slots go in this same
-- transaction (nobody saw them held) and waits for its next token.
CREATE OR REPLACE FUNCTION postbox.claim_limited(p_queue text, p_max int, p_vt_ms bigint, p_owner text,
                                      p_incarnation text, p_types text[], p_alive_ms bigint)
RETURNS TABLE (id bigint, receipt bigint, queue text, type text, execution_id text, org text,
               payload text, headers text, read_ct int, last_error text,
               enqueued_epoch float8, attempts int, suspect boolean, actor_type text,
               actor_key text, actor_state_version bigint)
LANGUAGE plpgsql
-- Its statements' plans are kept: a custom plan per call (LIMIT and arrays from
-- variables make the generic one look dearer) spent about 40% of a claim planning.
-- The generic plans' estimates (a LIMIT from a variable: 10% of the queue) must not
-- make PostgreSQL JIT-compile them on every call.
SET plan_cache_mode = force_generic_plan
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
  lease_end  timestamptz := now() + p_vt_ms * interval '1 millisecond';
  bound      int := p_max * 8 + 64;
  ql         postbox.limits%ROWTYPE;
  -- The queue's limit in this claim: settled (limit_slots_settle ran), found full and
  -- until when to wait; its rate's tokens in sight and the next one's time as read
  -- (NULL: not yet), tokens meant.
  q_settled  boolean := false;
  q_full     boolean := false;
  q_wait     timestamptz;
  q_avail    int;
  q_next     timestamptz;
  q_need     int := 0;
  -- The key limits met in this claim (index j), the same per key.
  k_seen     text[] := '{}';     -- keys looked up, with a limit or not
  k_key      text[] := '{}';
  k_max      int[] := '{}';
  k_rate     float8[] := '{}';
  k_burst    int[] := '{}';
  k_settled  boolean[] := '{}';
  k_full     boolean[] := '{}';
  k_wait     timestamptz[] := '{}';
  k_avail    int[] := '{}';
  k_next     timestamptz[] := '{}';
  k_need     int[] := '{}';
  k_from     int[];              -- this round: key j's next and last locked slot in sl_slot
  k_to       int[];
  new_keys   text[];
  -- This round: the candidates (claim order), their key limit (j or NULL), those past
  -- the rate, the slots locked, the waits, the admitted (queue slot, key and key slot).
  c_id       bigint[];
  c_key      text[];
  c_k        int[];
  has_key    boolean;
  p_id       bigint[];
  p_k        int[];
  q_slots    int[];
  sl_slot    int[];
  sl_j       int[];
  w_id       bigint[];
  w_at       timestamptz[];
  w_why      text[];
  a_id       bigint[];
  a_qslot    int[];
  a_key      text[];
  a_kslot    int[];
  a_rc       bigint[];
  -- Admitted in this claim: id, receipt, holds slots, key limit (j) or NULL, takes a
  -- token of the queue's rate; refused at the end (its next token time); the shard its
  -- key's token came from.
  ids        bigint[] := '{}';
  rcpts      bigint[] := '{}';
  helds      boolean[] := '{}';
  adm_k      int[] := '{}';
  adm_q      boolean[] := '{}';
  denied_at  timestamptz[] := '{}';
  cand_ks    int[] := '{}';
  seen       bigint[] := '{}';
  tk_s       int[];
  tk_n       int[];
  want       int;
  n          int;
  i          int;
  j          int;
  k          int;
  h          int;
  x          int;
  g          int;
  cnt        int;
  qp         int;
  need_q     boolean;
  need_k     boolean;
  any_kmax   boolean;            -- this round: one past the rate needs a key's slot
  any_kslot  boolean;            -- this round: one admitted took a key's slot
  any_denied boolean := false;
  wait_rate  timestamptz;
  t0         timestamptz;
  scanned    int := 0;
BEGIN
  SELECT * INTO ql FROM postbox.limits l WHERE l.scope = 'queue' AND l.key = p_queue;
  LOOP
    -- The queue's own limit exhausted: every further candidate waits, take the rest.
    IF (ql.max_in_flight IS NOT NULL AND q_full)
       OR (ql.rate IS NOT NULL AND q_avail IS NOT NULL AND q_need >= q_avail) THEN
      want := bound - scanned;
    ELSE
      want := least(p_max - cardinality(ids), bound - scanned);
    END IF;
    EXIT WHEN want <= 0;
    SELECT array_agg(s.id ORDER BY s.priority DESC, s.visible_at, s.id),
           array_agg(s.limit_key ORDER BY s.priority DESC, s.visible_at, s.id),
           coalesce(bool_or(s.limit_key IS NOT NULL), false)
    INTO c_id, c_key, has_key
    FROM (SELECT * FROM (SELECT m.id, m.limit_key, m.priority, m.visible_at FROM postbox.mailbox m
            WHERE m.queue = p_queue AND m.priority = 3 AND m.visible_at <= now()
              AND (p_types IS NULL OR m.type = ANY (p_types)) AND m.id <> ALL (seen)
              AND NOT (m.receipt IS NOT NULL AND m.alone_on IS NOT NULL AND m.alone_on <> p_incarnation
                       AND m.visible_at > now() - p_alive_ms * interval '1 millisecond'
                       AND EXISTS (SELECT 1 FROM postbox.nodes nd
                                   WHERE nd.incarnation = m.alone_on
                                     AND nd.heartbeat_at > now() - p_alive_ms * interval '1 millisecond'))
            ORDER BY m.visible_at, m.id LIMIT want FOR UPDATE OF m SKIP LOCKED) t3
            UNION ALL
            SELECT * FROM (SELECT m.id, m.limit_key, m.priority, m.visible_at FROM postbox.mailbox m
            WHERE m.queue = p_queue AND m.priority = 2 AND m.visible_at <= now()
              AND (p_types IS NULL OR m.type = ANY (p_types)) AND m.id <> ALL (seen)
              AND NOT (m.receipt IS NOT NULL AND m.alone_on IS NOT NULL AND m.alone_on <> p_incarnation
                       AND m.visible_at > now() - p_alive_ms * interval '1 millisecond'
                       AND EXISTS (SELECT 1 FROM postbox.nodes nd
                                   WHERE nd.incarnation = m.alone_on
                                     AND nd.heartbeat_at > now() - p_alive_ms * interval '1 millisecond'))
            ORDER BY m.visible_at, m.id LIMIT want FOR UPDATE OF m SKIP LOCKED) t2
            UNION ALL
            SELECT * FROM (SELECT m.id, m.limit_key, m.priority, m.visible_at FROM postbox.mailbox m
            WHERE m.queue = p_queue AND m.priority = 1 AND m.visible_at <= now()
              AND (p_types IS NULL OR m.type = ANY (p_types)) AND m.id <> ALL (seen)
              AND NOT (m.receipt IS NOT NULL AND m.alone_on IS NOT NULL AND m.alone_on <> p_incarnation
                       AND m.visible_at > now() - p_alive_ms * interval '1 millisecond'
                       AND EXISTS (SELECT 1 FROM postbox.nodes nd
                                   WHERE nd.incarnation = m.alone_on
                                     AND nd.heartbeat_at > now() - p_alive_ms * interval '1 millisecond'))
            ORDER BY m.visible_at, m.id LIMIT want FOR UPDATE OF m SKIP LOCKED) t1
            UNION ALL
            SELECT * FROM (SELECT m.id, m.limit_key, m.priority, m.visible_at FROM postbox.mailbox m
            WHERE m.queue = p_queue AND m.priority = 0 AND m.visible_at <= now()
              AND (p_types IS NULL OR m.type = ANY (p_types)) AND m.id <> ALL (seen)
              AND NOT (m.receipt IS NOT NULL AND m.alone_on IS NOT NULL AND m.alone_on <> p_incarnation
                       AND m.visible_at > now() - p_alive_ms * interval '1 millisecond'
                       AND EXISTS (SELECT 1 FROM postbox.nodes nd
                                   WHERE nd.incarnation = m.alone_on
                                     AND nd.heartbeat_at > now() - p_alive_ms * interval '1 millisecond'))
            ORDER BY m.visible_at, m.id LIMIT want FOR UPDATE OF m SKIP LOCKED) t0
          -- (the bound keeps the estimate small: a plan costed for the whole backlog is
          -- JIT-compiled on every call, which costs more than the claim)
          LIMIT want) s;
    n := coalesce(cardinality(c_id), 0);
    EXIT WHEN n = 0;
    scanned := scanned + n;
    seen := seen || c_id;
    -- The key limits of this round's keys not met yet (only if a candidate has a key).
    c_k := NULL;
    IF has_key THEN
      SELECT array_agg(DISTINCT v) INTO new_keys
      FROM unnest(c_key) v WHERE v IS NOT NULL AND v <> ALL (k_seen);
      IF new_keys IS NOT NULL THEN
        k_seen := k_seen || new_keys;
        SELECT k_key || coalesce(array_agg(l.key ORDER BY l.key), '{}'),
               k_max || coalesce(array_agg(l.max_in_flight ORDER BY l.key), '{}'),
               k_rate || coalesce(array_agg(l.rate ORDER BY l.key), '{}'),
               k_burst || coalesce(array_agg(l.burst ORDER BY l.key), '{}')
        INTO k_key, k_max, k_rate, k_burst
        FROM postbox.limits l
        WHERE l.scope = 'key' AND l.key = ANY (new_keys)
          AND (l.max_in_flight IS NOT NULL OR l.rate IS NOT NULL);
        FOR j IN coalesce(cardinality(k_need), 0) + 1 .. coalesce(cardinality(k_key), 0) LOOP
          k_settled[j] := false; k_full[j] := false; k_need[j] := 0;
        END LOOP;
      END IF;
      IF cardinality(k_key) > 0 THEN
        SELECT array_agg(array_position(k_key, u.v) ORDER BY u.o) INTO c_k
        FROM unnest(c_key) WITH ORDINALITY u(v, o);
      END IF;
    END IF;
    -- Full limits, then the rate (estimate), in claim order: no SQL but a rate's first read.
    IF ql.rate IS NOT NULL AND q_avail IS NULL THEN
      -- (postbox.limit_tokens_ahead written out: a SQL function's query is planned on
      -- every call, this one once)
      SELECT coalesce(sum(greatest(0, floor(sh.b - extract(epoch FROM greatest(t.tat, now()) - now())
                                                  * sh.r + 1e-9)))::int, 0),
             min(t.tat - ((sh.b - 1) / sh.r) * interval '1 second')
      INTO q_avail, q_next
      FROM postbox.limit_tokens t,
           LATERAL (SELECT ql.rate / postbox.limit_shards(ql.burst) AS r,
                           ql.burst / postbox.limit_shards(ql.burst)
                           + (t.shard < ql.burst % postbox.limit_shards(ql.burst))::int AS b) sh
      WHERE t.scope = 'queue' AND t.key = p_queue;
    END IF;
    p_id := '{}'; p_k := '{}'; w_id := '{}'; w_at := '{}'; w_why := '{}';
    any_kmax := false; any_kslot := false;
    FOR i IN 1 .. n LOOP
      j := c_k[i];
      IF (ql.max_in_flight IS NOT NULL AND q_full) OR (j IS NOT NULL AND k_full[j]) THEN
        w_id := w_id || c_id[i]; w_why := w_why || 'slot'::text;
        w_at := w_at || greatest(CASE WHEN ql.max_in_flight IS NOT NULL AND q_full THEN q_wait END,
                                 CASE WHEN j IS NOT NULL AND k_full[j] THEN k_wait[j] END);
        CONTINUE;
      END IF;
      wait_rate := NULL;
      IF ql.rate IS NOT NULL AND q_need >= q_avail THEN
        wait_rate := CASE WHEN q_avail = 0 THEN q_next + (q_need / ql.rate) * interval '1 second'
                          ELSE now() + ((q_need - q_avail + 1) / ql.rate) * interval '1 second' END;
      END IF;
      IF j IS NOT NULL AND k_rate[j] IS NOT NULL THEN
        IF k_avail[j] IS NULL THEN
          SELECT coalesce(sum(greatest(0, floor(sh.b - extract(epoch FROM greatest(t.tat, now()) - now())
                                                      * sh.r + 1e-9)))::int, 0),
                 min(t.tat - ((sh.b - 1) / sh.r) * interval '1 second')
          INTO cnt, t0
          FROM postbox.limit_tokens t,
               LATERAL (SELECT k_rate[j] / postbox.limit_shards(k_burst[j]) AS r,
                               k_burst[j] / postbox.limit_shards(k_burst[j])
                               + (t.shard < k_burst[j] % postbox.limit_shards(k_burst[j]))::int AS b) sh
          WHERE t.scope = 'key' AND t.key = k_key[j];
          k_avail[j] := cnt; k_next[j] := t0;
        END IF;
        IF k_need[j] >= k_avail[j] THEN
          wait_rate := greatest(wait_rate,
            CASE WHEN k_avail[j] = 0 THEN k_next[j] + (k_need[j] / k_rate[j]) * interval '1 second'
                 ELSE now() + ((k_need[j] - k_avail[j] + 1) / k_rate[j]) * interval '1 second' END);
        END IF;
      END IF;
      IF wait_rate IS NOT NULL THEN
        w_id := w_id || c_id[i]; w_at := w_at || greatest(wait_rate, now());
        w_why := w_why || 'rate'::text;
        CONTINUE;
      END IF;
      IF ql.rate IS NOT NULL THEN q_need := q_need + 1; END IF;
      IF j IS NOT NULL AND k_rate[j] IS NOT NULL THEN k_need[j] := k_need[j] + 1; END IF;
      p_id := p_id || c_id[i]; p_k := p_k || j;
      any_kmax := any_kmax OR (j IS NOT NULL AND k_max[j] IS NOT NULL);
    END LOOP;
    -- The free slots for those past the rate: one statement for the queue's limit,
    -- one for the keys' (after settling each limit's holders above max, once a claim).
    q_slots := '{}'; sl_slot := '{}'; sl_j := '{}'; k_from := NULL; k_to := NULL;
    IF cardinality(p_id) > 0 AND ql.max_in_flight IS NOT NULL AND NOT q_full THEN
      IF NOT q_settled THEN
        q_settled := true;
        IF (SELECT max(s.slot) FROM postbox.limit_slots s
            WHERE s.scope = 'queue' AND s.key = p_queue) > ql.max_in_flight
           AND postbox.limit_slots_settle('queue', p_queue, ql.max_in_flight) > 0 THEN
          q_full := true; q_wait := now() + interval '250 milliseconds';
        END IF;
      END IF;
      IF NOT q_full THEN
        SELECT coalesce(array_agg(f.slot ORDER BY f.slot), '{}') INTO q_slots
        FROM (SELECT f.slot FROM postbox.limit_slots f
              WHERE f.scope = 'queue' AND f.key = p_queue AND f.slot <= ql.max_in_flight
                AND (f.message_id IS NULL OR f.lease_until <= now())
              ORDER BY f.slot LIMIT cardinality(p_id)
              FOR UPDATE SKIP LOCKED) f;
      END IF;
    END IF;
    IF any_kmax THEN
      -- (one probe for the round's keys not settled yet; settled: those it names)
      SELECT array_agg(DISTINCT pk.j) INTO tk_s
      FROM unnest(p_k) pk(j)
      WHERE k_max[pk.j] IS NOT NULL AND NOT k_settled[pk.j]
        AND (SELECT max(s.slot) FROM postbox.limit_slots s
             WHERE s.scope = 'key' AND s.key = k_key[pk.j]) > k_max[pk.j];
      FOR x IN 1 .. coalesce(cardinality(p_k), 0) LOOP
        j := p_k[x];
        CONTINUE WHEN j IS NULL OR k_settled[j];
        k_settled[j] := true;
        IF j = ANY (tk_s) AND postbox.limit_slots_settle('key', k_key[j], k_max[j]) > 0 THEN
          k_full[j] := true; k_wait[j] := now() + interval '250 milliseconds';
        END IF;
      END LOOP;
      SELECT coalesce(array_agg(t.slot ORDER BY w.j, t.slot), '{}'),
             coalesce(array_agg(w.j ORDER BY w.j, t.slot), '{}')
      INTO sl_slot, sl_j
      FROM (SELECT pk.j, count(*)::int AS need FROM unnest(p_k) pk(j)
            WHERE k_max[pk.j] IS NOT NULL AND NOT k_full[pk.j] GROUP BY pk.j) w,
           LATERAL (SELECT f.slot FROM postbox.limit_slots f
                    WHERE f.scope = 'key' AND f.key = k_key[w.j] AND f.slot <= k_max[w.j]
                      AND (f.message_id IS NULL OR f.lease_until <= now())
                    ORDER BY f.slot LIMIT w.need
                    FOR UPDATE SKIP LOCKED) t;
      FOR x IN 1 .. cardinality(sl_j) LOOP
        IF k_from[sl_j[x]] IS NULL THEN k_from[sl_j[x]] := x; END IF;
        k_to[sl_j[x]] := x;
      END LOOP;
    END IF;
    -- Handed out in claim order; one short of a slot waits and gives its token back.
    a_id := '{}'; a_qslot := '{}'; a_key := '{}'; a_kslot := '{}';
    qp := 1;
    FOR i IN 1 .. coalesce(cardinality(p_id), 0) LOOP
      j := p_k[i];
      need_q := ql.max_in_flight IS NOT NULL;
      need_k := j IS NOT NULL AND k_max[j] IS NOT NULL;
      IF (need_q AND qp > cardinality(q_slots)) OR (need_k AND coalesce(k_from[j] > k_to[j], true)) THEN
        IF need_q AND qp > cardinality(q_slots) AND NOT q_full THEN
          q_full := true;
          SELECT least(min(ls.lease_until), now() + interval '250 milliseconds') INTO q_wait
          FROM postbox.limit_slots ls
          WHERE ls.scope = 'queue' AND ls.key = p_queue AND ls.slot <= ql.max_in_flight;
          q_wait := coalesce(greatest(q_wait, now()), now() + interval '250 milliseconds');
        END IF;
        IF need_k AND coalesce(k_from[j] > k_to[j], true) AND NOT k_full[j] THEN
          k_full[j] := true;
          SELECT least(min(ls.lease_until), now() + interval '250 milliseconds') INTO t0
          FROM postbox.limit_slots ls
          WHERE ls.scope = 'key' AND ls.key = k_key[j] AND ls.slot <= k_max[j];
          k_wait[j] := coalesce(greatest(t0, now()), now() + interval '250 milliseconds');
        END IF;
        w_id := w_id || p_id[i]; w_why := w_why || 'slot'::text;
        w_at := w_at || greatest(CASE WHEN need_q AND q_full THEN q_wait END,
                                 CASE WHEN need_k AND k_full[j] THEN k_wait[j] END);
        IF ql.rate IS NOT NULL THEN q_need := q_need - 1; END IF;
        IF j IS NOT NULL AND k_rate[j] IS NOT NULL THEN k_need[j] := k_need[j] - 1; END IF;
        CONTINUE;
      END IF;
      a_id := a_id || p_id[i];
      IF need_q THEN a_qslot := a_qslot || q_slots[qp]; qp := qp + 1;
      ELSE a_qslot := a_qslot || NULL::int; END IF;
      IF need_k THEN
        a_key := a_key || k_key[j]; a_kslot := a_kslot || sl_slot[k_from[j]];
        k_from[j] := k_from[j] + 1; any_kslot := true;
      ELSE
        a_key := a_key || NULL::text; a_kslot := a_kslot || NULL::int;
      END IF;
      helds := helds || (need_q OR need_k); adm_k := adm_k || j;
      adm_q := adm_q || (ql.rate IS NOT NULL);
    END LOOP;
    -- The round's writes: its admitted's slots (under fresh receipts), its waits.
    IF cardinality(a_id) > 0 THEN
      SELECT array_agg(nextval('postbox.receipt_seq')) INTO a_rc
      FROM generate_series(1, cardinality(a_id));
      IF ql.max_in_flight IS NOT NULL THEN
        UPDATE postbox.limit_slots ls SET message_id = u.mid, receipt = u.rc, lease_until = lease_end
        FROM unnest(a_qslot, a_id, a_rc) u(slot, mid, rc)
        WHERE ls.scope = 'queue' AND ls.key = p_queue AND ls.slot = u.slot;
      END IF;
      IF any_kslot THEN
        UPDATE postbox.limit_slots ls SET message_id = u.mid, receipt = u.rc, lease_until = lease_end
        FROM unnest(a_key, a_kslot, a_id, a_rc) u(key, slot, mid, rc)
        WHERE ls.scope = 'key' AND ls.key = u.key AND ls.slot = u.slot;
      END IF;
      ids := ids || a_id; rcpts := rcpts || a_rc;
    END IF;
    IF cardinality(w_id) > 0 THEN
      UPDATE postbox.mailbox m SET visible_at = u.due, limit_wait = u.why,
          ready_at = coalesce(m.ready_at, m.visible_at)
      FROM unnest(w_id, w_at, w_why) u(mid, due, why)
      WHERE m.id = u.mid;
    END IF;
    EXIT WHEN n < want;  -- no more candidates
  END LOOP;
  IF cardinality(ids) = 0 THEN
    RETURN;
  END IF;
  -- The tokens, exactly: each key's rate, then the queue's (a candidate a key refused
  -- takes none of the queue's; one the queue refused gives its key's back), each from
  -- the shards no other claim holds (postbox.limit_take). No claim ever waits for a
  -- shard, so claims under one rate do not take turns on a row until each commits.
  FOR j IN 1 .. coalesce(cardinality(k_key), 0) LOOP
    CONTINUE WHEN k_rate[j] IS NULL;
    cnt := 0;
    FOR i IN 1 .. cardinality(ids) LOOP
      IF adm_k[i] = j THEN cnt := cnt + 1; END IF;
    END LOOP;
    CONTINUE WHEN cnt = 0;
    -- One shard with all cnt tokens in sight takes them in one statement (the
    -- subselect locks it, FOR UPDATE SKIP LOCKED re-reading its tat; the SET moves the
    -- latest tat as limit_take would); else limit_take, shard by shard.
    x := NULL;
    UPDATE postbox.limit_tokens t
    SET tat = greatest(t.tat, now()) + (cnt / (k_rate[j] / postbox.limit_shards(k_burst[j]))) * interval '1 second'
    WHERE t.scope = 'key' AND t.key = k_key[j]
      AND t.shard = (SELECT f.shard FROM postbox.limit_tokens f
                     WHERE f.scope = 'key' AND f.key = k_key[j]
                       AND floor(k_burst[j] / postbox.limit_shards(k_burst[j]) + (f.shard < k_burst[j] % postbox.limit_shards(k_burst[j]))::int
                                 - extract(epoch FROM greatest(f.tat, now()) - now())
                                   * (k_rate[j] / postbox.limit_shards(k_burst[j])) + 1e-9) >= cnt
                     ORDER BY (f.shard + postbox.limit_shards(k_burst[j]) - pg_backend_pid() % postbox.limit_shards(k_burst[j])) % postbox.limit_shards(k_burst[j])
                     LIMIT 1
                     FOR UPDATE SKIP LOCKED)
    RETURNING t.shard INTO x;
    IF x IS NOT NULL THEN
      tk_s := ARRAY[x]; tk_n := ARRAY[cnt]; g := cnt;
    ELSE
      SELECT t.shards, t.counts INTO tk_s, tk_n
      FROM postbox.limit_take('key', k_key[j], k_rate[j], k_burst[j], cnt) t;
      g := 0;
      FOR x IN 1 .. cardinality(tk_n) LOOP g := g + tk_n[x]; END LOOP;
    END IF;
    IF g < cnt THEN
      t0 := (SELECT a.next_at FROM postbox.limit_tokens_ahead('key', k_key[j], k_rate[j], k_burst[j]) a);
    END IF;
    k := 0;
    FOR i IN 1 .. cardinality(ids) LOOP
      CONTINUE WHEN adm_k[i] IS DISTINCT FROM j;
      k := k + 1;
      IF k > g THEN
        denied_at[i] := greatest(t0, now()) + ((k - g - 1) / k_rate[j]) * interval '1 second';
        any_denied := true;
      ELSE  -- the shard its token came from, should the queue refuse it
        h := 0;
        FOR x IN 1 .. cardinality(tk_s) LOOP
          h := h + tk_n[x];
          IF k <= h THEN cand_ks[i] := tk_s[x]; EXIT; END IF;
        END LOOP;
      END IF;
    END LOOP;
  END LOOP;
  IF ql.rate IS NOT NULL THEN
    cnt := 0;
    FOR i IN 1 .. cardinality(ids) LOOP
      IF adm_q[i] AND denied_at[i] IS NULL THEN cnt := cnt + 1; END IF;
    END LOOP;
    IF cnt > 0 THEN
      -- One shard with all cnt tokens in sight takes them in one statement (the
      -- subselect locks it, FOR UPDATE SKIP LOCKED re-reading its tat; the SET moves the
      -- latest tat as limit_take would); else limit_take, shard by shard.
      x := NULL;
      UPDATE postbox.limit_tokens t
      SET tat = greatest(t.tat, now()) + (cnt / (ql.rate / postbox.limit_shards(ql.burst))) * interval '1 second'
      WHERE t.scope = 'queue' AND t.key = p_queue
        AND t.shard = (SELECT f.shard FROM postbox.limit_tokens f
                       WHERE f.scope = 'queue' AND f.key = p_queue
                         AND floor(ql.burst / postbox.limit_shards(ql.burst) + (f.shard < ql.burst % postbox.limit_shards(ql.burst))::int
                                   - extract(epoch FROM greatest(f.tat, now()) - now())
                                     * (ql.rate / postbox.limit_shards(ql.burst)) + 1e-9) >= cnt
                       ORDER BY (f.shard + postbox.limit_shards(ql.burst) - pg_backend_pid() % postbox.limit_shards(ql.burst)) % postbox.limit_shards(ql.burst)
                       LIMIT 1
                       FOR UPDATE SKIP LOCKED)
      RETURNING t.shard INTO x;
      IF x IS NOT NULL THEN
        tk_s := ARRAY[x]; tk_n := ARRAY[cnt]; g := cnt;
      ELSE
        SELECT t.shards, t.counts INTO tk_s, tk_n
        FROM postbox.limit_take('queue', p_queue, ql.rate, ql.burst, cnt) t;
        g := 0;
        FOR x IN 1 .. cardinality(tk_n) LOOP g := g + tk_n[x]; END LOOP;
      END IF;
      IF g < cnt THEN
        t0 := (SELECT a.next_at FROM postbox.limit_tokens_ahead('queue', p_queue, ql.rate, ql.burst) a);
        k := 0;
        FOR i IN 1 .. cardinality(ids) LOOP
          CONTINUE WHEN NOT adm_q[i] OR denied_at[i] IS NOT NULL;
          k := k + 1;
          CONTINUE WHEN k <= g;
          denied_at[i] := greatest(t0, now()) + ((k - g - 1) / ql.rate) * interval '1 second';
          any_denied := true;
          IF cand_ks[i] IS NOT NULL THEN
            -- Its key's token back, to the shard it came from (this claim holds it).
            UPDATE postbox.limit_tokens t
            SET tat = t.tat - (postbox.limit_shards(k_burst[adm_k[i]]) / k_rate[adm_k[i]])
                              * interval '1 second'
            WHERE t.scope = 'key' AND t.key = k_key[adm_k[i]] AND t.shard = cand_ks[i];
          END IF;
        END LOOP;
      END IF;
    END IF;
  END IF;
  -- The refused: their slots go, and they wait for their next token.
  IF any_denied THEN
    UPDATE postbox.limit_slots ls SET message_id = NULL, receipt = NULL, lease_until = NULL
    FROM unnest(ids, rcpts, denied_at) u(mid, rc, due)
    WHERE u.due IS NOT NULL AND ls.message_id = u.mid AND ls.receipt = u.rc;
    UPDATE postbox.mailbox m SET visible_at = greatest(u.due, now()), limit_wait = 'rate',
        ready_at = coalesce(m.ready_at, m.visible_at)
    FROM unnest(ids, denied_at) u(mid, due)
    WHERE u.due IS NOT NULL AND m.id = u.mid;
  END IF;
  RETURN QUERY
  UPDATE postbox.mailbox m
  SET visible_at = lease_end,
      read_ct = m.read_ct + 1,
      receipt = u.rc,
      limit_held = u.held,
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
  FROM unnest(ids, rcpts, helds, denied_at) u(mid, rc, held, due)
  WHERE m.id = u.mid AND u.due IS NULL
  RETURNING m.id, m.receipt, m.queue, m.type, m.execution_id, m.org, m.payload::text,
            m.headers::text, m.read_ct, m.last_error,
            extract(epoch FROM m.enqueued_at)::float8,
            m.attempts, m.suspect, m.actor_type, m.actor_key,
            CASE WHEN m.actor_key IS NOT NULL
                 THEN (SELECT a.state_version FROM postbox.actors a
                       WHERE a.actor_type = m.actor_type AND a.actor_key = m.actor_key) END;
END $$;
