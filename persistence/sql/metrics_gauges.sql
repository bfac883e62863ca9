-- The cluster's gauges for /metrics, in one statement (one round trip per scrape).
-- Rows: ('queue', queue, ready, in_flight, delayed, oldest_ready_age_s, dead_letters),
-- ('outbox', kind, pending, failed, 0, 0, 0), ('claims', '', active, 0, 0, 0, 0),
-- ('actor', actor_type, keys_with_a_head, blocked_keys, oldest_head_age_s, 0, 0),
-- ('schedule', name, next_tick_epoch_s, last_tick_epoch_s, sent, skipped, missed)
-- (0 for an unset tick; the schedules table is small: a sequential read),
-- ('dedup', queue, live_messages_with_a_dedup_key, running_ttl_windows, 0, 0, 0),
-- ('limit', scope || ':' || key, slots_in_use, max_in_flight, throttled, waiting_slot, 0)
-- (migration 025: a few rows; the waiting counts read the partial mailbox_limit_wait_idx),
-- ('tier', queue, priority 0..3, ready, oldest_ready_age_s, 0, 0) (migration 024).
-- $1 (text[]): queues that always show (the topology's), also when empty.
--
-- Cost, per queue: the queue names come from a skip scan of mailbox_claim_idx and
-- dead_letters_queue_idx (one index descent per distinct queue, never a walk of the
-- mailbox). ready counts the queue's ready ranges of mailbox_claim_idx (queue,
-- priority, visible_at, id), one per tier (index-only scans: proportional to that
-- backlog, not to the table), and is their sum; in_flight and delayed read
-- the rows with visible_at in the future (leases and delays, bounded by the consumers'
-- prefetch and by what was sent with a delay; a keyed actor's parked messages, at
-- 'infinity', are neither and are not read); the oldest ready row is the first
-- entry of the ready ranges (each tier's first). A backlog of millions of ready rows makes the ready count
-- cost about a second per million; the caller bounds the statement with a timeout.
-- dead_letters walks the queue's dead letters by dead_letters_queue_idx (pruned after
-- retention). Active claims use claims_state_idx; pending outbox rows the partial
-- outbox_due_idx, failed ones the partial outbox_failed_idx (migration 014).
-- EXPLAIN (ANALYZE, BUFFERS) on 200k mailbox rows (150k ready in one queue, 30k
-- delayed, 20 small queues), 105k dead letters and 100k outbox rows: no sequential
-- scan of the mailbox (index-only scans of mailbox_claim_idx, heap fetches 0) nor of
-- dead_letters (bitmap scans of dead_letters_queue_idx); before migration 014 one of
-- the outbox for the failed count (1,177 buffers); 12k buffers in all, most of them
-- the ready count and the dead letters' heap rows (retried_at).
-- Actor types (keyed actors, migration 019): the registered types (actor_types, a few
-- rows) and any type with a head. Keys with a head are the keys with a backlog (a key's
-- queued messages are its head and, parked, the rest), read by the partial index
-- actors_head_idx: proportional to the keys with work, never to idle keys; blocked keys
-- by the partial actors_blocked_idx.
WITH RECURSIVE mailbox_queues AS (
  (SELECT queue FROM postbox.mailbox ORDER BY queue LIMIT 1)
  UNION ALL
  SELECT (SELECT m.queue FROM postbox.mailbox m WHERE m.queue > q.queue ORDER BY m.queue LIMIT 1)
  FROM mailbox_queues q WHERE q.queue IS NOT NULL
), dead_queues AS (
  (SELECT queue FROM postbox.dead_letters ORDER BY queue LIMIT 1)
  UNION ALL
  SELECT (SELECT d.queue FROM postbox.dead_letters d WHERE d.queue > q.queue
          ORDER BY d.queue LIMIT 1)
  FROM dead_queues q WHERE q.queue IS NOT NULL
), names AS (
  SELECT queue FROM mailbox_queues WHERE queue IS NOT NULL
  UNION SELECT queue FROM dead_queues WHERE queue IS NOT NULL
  UNION SELECT unnest($1::text[])
), pending AS (
  SELECT kind, count(*) AS n FROM postbox.outbox WHERE state = 'pending' GROUP BY kind
), failed AS (
  SELECT kind, count(*) AS n FROM postbox.outbox WHERE state = 'failed' GROUP BY kind
), actor_heads AS (
  SELECT actor_type, count(*) AS n, max(extract(epoch FROM now() - head_since)) AS oldest
  FROM postbox.actors WHERE head_id IS NOT NULL GROUP BY actor_type
), actor_blocked AS (
  SELECT actor_type, count(*) AS n FROM postbox.actors WHERE blocked_at IS NOT NULL
  GROUP BY actor_type
), actor_names AS (
  SELECT actor_type FROM postbox.actor_types
  UNION SELECT actor_type FROM actor_heads UNION SELECT actor_type FROM actor_blocked
), tiers AS (
  SELECT n.queue, t.k,
         (SELECT count(*) FROM postbox.mailbox m
          WHERE m.queue = n.queue AND m.priority = t.k AND m.visible_at <= now()) AS ready,
         COALESCE((SELECT extract(epoch FROM now() - m.visible_at) FROM postbox.mailbox m
                   WHERE m.queue = n.queue AND m.priority = t.k AND m.visible_at <= now()
                   ORDER BY m.visible_at LIMIT 1), 0) AS oldest
  FROM names n CROSS JOIN (VALUES (0::smallint), (1::smallint), (2::smallint), (3::smallint)) t(k)
), kinds AS (
  -- The kinds outbox_enqueue_terminal.sql writes, and any other present.
  SELECT kind FROM (VALUES ('webhook'), ('usage')) AS k(kind)
  UNION SELECT kind FROM pending UNION SELECT kind FROM failed
)
SELECT 'queue' AS section, n.queue AS label,
       (SELECT sum(t.ready) FROM tiers t WHERE t.queue = n.queue)::float8,
       (SELECT count(*) FROM postbox.mailbox m
        WHERE m.queue = n.queue AND m.visible_at > now() AND m.receipt IS NOT NULL)::float8,
       (SELECT count(*) FROM postbox.mailbox m
        WHERE m.queue = n.queue AND m.visible_at > now() AND m.visible_at < 'infinity'
          AND m.receipt IS NULL)::float8,
       (SELECT max(t.oldest) FROM tiers t WHERE t.queue = n.queue)::float8,
       (SELECT count(*) FROM postbox.dead_letters d
        WHERE d.queue = n.queue AND d.retried_at IS NULL)::float8
FROM names n
UNION ALL
SELECT 'tier', t.queue, t.k::float8, t.ready::float8, t.oldest::float8, 0, 0 FROM tiers t
UNION ALL
SELECT 'outbox', k.kind, COALESCE(p.n, 0)::float8, COALESCE(f.n, 0)::float8, 0, 0, 0
FROM kinds k LEFT JOIN pending p ON p.kind = k.kind LEFT JOIN failed f ON f.kind = k.kind
UNION ALL
SELECT 'actor', t.actor_type, COALESCE(h.n, 0)::float8, COALESCE(b.n, 0)::float8,
       COALESCE(h.oldest, 0)::float8, 0, 0
FROM actor_names t LEFT JOIN actor_heads h USING (actor_type)
     LEFT JOIN actor_blocked b USING (actor_type)
UNION ALL
SELECT 'schedule', s.name, COALESCE(extract(epoch FROM s.next_tick), 0)::float8,
       COALESCE(extract(epoch FROM s.last_tick), 0)::float8, s.sent::float8,
       s.skipped::float8, s.missed::float8
FROM postbox.schedules s
UNION ALL
-- Dedup keys (migration 023): the live keyed messages by the partial mailbox_dedup_idx
-- (proportional to them, never to the mailbox), the ttl windows not yet ended.
SELECT 'dedup', d.queue, sum(d.live)::float8, sum(d.windows)::float8, 0, 0, 0
FROM (SELECT queue, count(*) AS live, 0 AS windows FROM postbox.mailbox
      WHERE dedup_key IS NOT NULL GROUP BY queue
      UNION ALL
      SELECT queue, 0, count(*) FROM postbox.dedup_keys WHERE expires_at > now()
      GROUP BY queue) d
GROUP BY d.queue
UNION ALL
SELECT 'limit', l.scope || ':' || l.key,
       (SELECT count(*) FROM postbox.limit_slots s
        WHERE s.scope = l.scope AND s.key = l.key AND s.message_id IS NOT NULL
          AND s.lease_until > now())::float8,
       COALESCE(l.max_in_flight, 0)::float8,
       (SELECT count(*) FROM postbox.mailbox m
        WHERE m.limit_wait = 'rate' AND m.visible_at > now()
          AND (CASE WHEN l.scope = 'queue' THEN m.queue = l.key ELSE m.limit_key = l.key END))::float8,
       (SELECT count(*) FROM postbox.mailbox m
        WHERE m.limit_wait = 'slot' AND m.visible_at > now()
          AND (CASE WHEN l.scope = 'queue' THEN m.queue = l.key ELSE m.limit_key = l.key END))::float8,
       0
FROM postbox.limits l
WHERE l.max_in_flight IS NOT NULL OR l.rate IS NOT NULL  -- (a removed one drains: 028)
UNION ALL
SELECT 'claims', '', (SELECT count(*) FROM postbox.claims WHERE state = 'active')::float8, 0, 0, 0, 0
ORDER BY 1, 2
