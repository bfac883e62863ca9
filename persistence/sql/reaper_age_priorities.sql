-- Aging (no starvation): a ready message of tier K (0 low, 1 normal, 2 high) that has
-- been ready for (K + 1) x $1 ms moves up one tier, so after n x aging_after of waiting
-- a message is at least tier n (normal after one, high after two, urgent after three);
-- its visible_at stays, so it is the oldest of its new tier and goes first there. At
-- most $2 rows a statement: per queue (a skip scan of mailbox_claim_idx, one descent
-- per distinct queue) and tier, one range of mailbox_claim_idx from the oldest. Rows
-- a claimer holds are skipped (the next sweep sees them, if still waiting). A keyed
-- actor's parked messages (visible_at 'infinity') are not ready: they age once they
-- are their key's head. A message claim_limited sent to wait for a token or a slot
-- (limit_wait) has a visible_at in the future but has been ready since ready_at
-- (migration 027): those age by ready_at, one range of mailbox_wait_age_idx per queue and
-- tier, so a rate that throttles a low message over and over does not keep it young.
WITH RECURSIVE queues AS (
  (SELECT queue FROM postbox.mailbox ORDER BY queue LIMIT 1)
  UNION ALL
  SELECT (SELECT m.queue FROM postbox.mailbox m WHERE m.queue > q.queue ORDER BY m.queue LIMIT 1)
  FROM queues q WHERE q.queue IS NOT NULL
), picked AS (
  -- Each tier with its constant: an ordered range of the index, read from the oldest
  -- and stopped at the limit (never a sort of the tier's backlog).
  SELECT w.id
  FROM queues q
  CROSS JOIN LATERAL (
    SELECT id FROM (
      SELECT m.id FROM postbox.mailbox m
      WHERE m.queue = q.queue AND m.priority = 0
        AND m.visible_at <= now() - 1 * $1::bigint * interval '1 millisecond'
      ORDER BY m.visible_at, m.id LIMIT $2::int FOR UPDATE SKIP LOCKED) t0
    UNION ALL
    SELECT id FROM (
      SELECT m.id FROM postbox.mailbox m
      WHERE m.queue = q.queue AND m.priority = 1
        AND m.visible_at <= now() - 2 * $1::bigint * interval '1 millisecond'
      ORDER BY m.visible_at, m.id LIMIT $2::int FOR UPDATE SKIP LOCKED) t1
    UNION ALL
    SELECT id FROM (
      SELECT m.id FROM postbox.mailbox m
      WHERE m.queue = q.queue AND m.priority = 2
        AND m.visible_at <= now() - 3 * $1::bigint * interval '1 millisecond'
      ORDER BY m.visible_at, m.id LIMIT $2::int FOR UPDATE SKIP LOCKED) t2
    UNION ALL
    SELECT id FROM (
      SELECT m.id FROM postbox.mailbox m
      WHERE m.queue = q.queue AND m.limit_wait IS NOT NULL AND m.priority = 0
        AND m.ready_at <= now() - 1 * $1::bigint * interval '1 millisecond'
      ORDER BY m.ready_at LIMIT $2::int FOR UPDATE SKIP LOCKED) w0
    UNION ALL
    SELECT id FROM (
      SELECT m.id FROM postbox.mailbox m
      WHERE m.queue = q.queue AND m.limit_wait IS NOT NULL AND m.priority = 1
        AND m.ready_at <= now() - 2 * $1::bigint * interval '1 millisecond'
      ORDER BY m.ready_at LIMIT $2::int FOR UPDATE SKIP LOCKED) w1
    UNION ALL
    SELECT id FROM (
      SELECT m.id FROM postbox.mailbox m
      WHERE m.queue = q.queue AND m.limit_wait IS NOT NULL AND m.priority = 2
        AND m.ready_at <= now() - 3 * $1::bigint * interval '1 millisecond'
      ORDER BY m.ready_at LIMIT $2::int FOR UPDATE SKIP LOCKED) w2) w
  WHERE q.queue IS NOT NULL
  LIMIT $2::int
)
-- A waiting row that moves up is looked at again at once (its wait was for a token or
-- a slot in its old tier's order; in the new tier it may be first).
UPDATE postbox.mailbox m
SET priority = m.priority + 1,
    visible_at = CASE WHEN m.limit_wait IS NOT NULL THEN least(m.visible_at, now())
                      ELSE m.visible_at END
WHERE m.id = ANY (ARRAY(SELECT id FROM picked))
