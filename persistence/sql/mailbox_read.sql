-- The claim: lock up to $2 visible rows of queue $1 (skipping rows other readers
-- hold), lease them for $3 ms to $4 and hand out a fresh receipt for each.
-- A row that still has a receipt was abandoned (its lease ran out without an
-- ack or nack): it becomes a suspect, and if it was running alone on another
-- node incarnation than the reader ($5) that is gone (its nodes row names another
-- process, or its heartbeat is older than $9 ms) its crash is charged to it as an
-- attempt. While that incarnation is alive (a partition, a stalled consumer) the row
-- is left to it for up to $9 ms past its lease (its renewal and ack still match the
-- receipt); read after that, it is not charged. SET sees the row as it was before
-- this UPDATE.
-- $6 (text[] or NULL = every type): the types the reader handles on this queue;
-- it leaves the others alone (another node's).
-- The orphan sweep, when $7 (the topology's node names, text[]) is not NULL: up to
-- $8 of the $2 rows may be of types that no node of the topology serves on this
-- queue, so the reader dead-letters them naming the type. While a node of the
-- topology has never registered, nothing is an orphan (it may serve the type).
-- Run it rarely: it scans the queue's backlog of other types.
WITH orphans AS (
  SELECT id FROM postbox.mailbox mb
  WHERE $7::text[] IS NOT NULL AND $6::text[] IS NOT NULL
    AND queue = $1 AND visible_at <= now() AND type <> ALL ($6::text[])
    AND (queue || ':' || type) NOT IN (
      SELECT unnest(n.handled_types) FROM postbox.nodes n WHERE n.name = ANY ($7::text[]))
    AND NOT EXISTS (SELECT 1 FROM unnest($7::text[]) AS t(name)
                    WHERE NOT EXISTS (SELECT 1 FROM postbox.nodes n WHERE n.name = t.name))
  -- (priority first: the order of mailbox_claim_idx, no sort; orphans all go the same way)
  ORDER BY priority, visible_at, id
  LIMIT LEAST($8::int, $2::int)
  FOR UPDATE SKIP LOCKED
), own AS (
  -- What the orphans left of the $2 the reader asked for, highest tier first: one
  -- index range of mailbox_claim_idx (queue, priority, visible_at, id) per tier (with
  -- $6, of mailbox_type_claim_idx), each in (visible_at, id) order, no sort. The Limit
  -- above the Append stops pulling (and locking) once it has enough: a lower tier is
  -- not even read while a higher one fills the batch.
  SELECT id FROM (
    SELECT id FROM postbox.mailbox
    WHERE queue = $1 AND priority = 3 AND visible_at <= now()
    AND ($6::text[] IS NULL OR type = ANY ($6::text[]))
    AND NOT (receipt IS NOT NULL AND alone_on IS NOT NULL AND alone_on <> $5::text
             AND visible_at > now() - $9::bigint * interval '1 millisecond'
             AND EXISTS (SELECT 1 FROM postbox.nodes n
                         WHERE n.incarnation = alone_on
                           AND n.heartbeat_at > now() - $9::bigint * interval '1 millisecond'))
    ORDER BY visible_at, id
    LIMIT $2::int - (SELECT count(*) FROM orphans)
    FOR UPDATE SKIP LOCKED) t3
  UNION ALL
  SELECT id FROM (
    SELECT id FROM postbox.mailbox
    WHERE queue = $1 AND priority = 2 AND visible_at <= now()
    AND ($6::text[] IS NULL OR type = ANY ($6::text[]))
    AND NOT (receipt IS NOT NULL AND alone_on IS NOT NULL AND alone_on <> $5::text
             AND visible_at > now() - $9::bigint * interval '1 millisecond'
             AND EXISTS (SELECT 1 FROM postbox.nodes n
                         WHERE n.incarnation = alone_on
                           AND n.heartbeat_at > now() - $9::bigint * interval '1 millisecond'))
    ORDER BY visible_at, id
    LIMIT $2::int - (SELECT count(*) FROM orphans)
    FOR UPDATE SKIP LOCKED) t2
  UNION ALL
  SELECT id FROM (
    SELECT id FROM postbox.mailbox
    WHERE queue = $1 AND priority = 1 AND visible_at <= now()
    AND ($6::text[] IS NULL OR type = ANY ($6::text[]))
    AND NOT (receipt IS NOT NULL AND alone_on IS NOT NULL AND alone_on <> $5::text
             AND visible_at > now() - $9::bigint * interval '1 millisecond'
             AND EXISTS (SELECT 1 FROM postbox.nodes n
                         WHERE n.incarnation = alone_on
                           AND n.heartbeat_at > now() - $9::bigint * interval '1 millisecond'))
    ORDER BY visible_at, id
    LIMIT $2::int - (SELECT count(*) FROM orphans)
    FOR UPDATE SKIP LOCKED) t1
  UNION ALL
  SELECT id FROM (
    SELECT id FROM postbox.mailbox
    WHERE queue = $1 AND priority = 0 AND visible_at <= now()
    AND ($6::text[] IS NULL OR type = ANY ($6::text[]))
    AND NOT (receipt IS NOT NULL AND alone_on IS NOT NULL AND alone_on <> $5::text
             AND visible_at > now() - $9::bigint * interval '1 millisecond'
             AND EXISTS (SELECT 1 FROM postbox.nodes n
                         WHERE n.incarnation = alone_on
                           AND n.heartbeat_at > now() - $9::bigint * interval '1 millisecond'))
    ORDER BY visible_at, id
    LIMIT $2::int - (SELECT count(*) FROM orphans)
    FOR UPDATE SKIP LOCKED) t0
  LIMIT $2::int - (SELECT count(*) FROM orphans)
), candidates AS (
  SELECT id FROM own UNION ALL SELECT id FROM orphans
)
-- The rows by id as an array: one index probe each. A join with the CTE (a generic
-- plan guesses it holds thousands of rows) could merge or hash the whole mailbox.
UPDATE postbox.mailbox m
SET visible_at = now() + $3::bigint * interval '1 millisecond',
    read_ct = m.read_ct + 1,
    receipt = nextval('postbox.receipt_seq'),
    lease_owner = $4,
    suspect = m.suspect OR m.receipt IS NOT NULL,
    attempts = m.attempts + (m.receipt IS NOT NULL AND m.alone_on IS NOT NULL AND m.alone_on <> $5::text
                             AND NOT EXISTS (SELECT 1 FROM postbox.nodes n
                                             WHERE n.incarnation = m.alone_on
                                               AND n.heartbeat_at > now() - $9::bigint
                                                                     * interval '1 millisecond'))::int,
    last_error = CASE WHEN m.receipt IS NOT NULL AND m.alone_on IS NOT NULL AND m.alone_on <> $5::text
                           AND NOT EXISTS (SELECT 1 FROM postbox.nodes n
                                           WHERE n.incarnation = m.alone_on
                                             AND n.heartbeat_at > now() - $9::bigint
                                                                   * interval '1 millisecond')
                      THEN 'crashed its node while running alone (on ' || m.alone_on || ')'
                      ELSE m.last_error END,
    alone_on = NULL
WHERE m.id = ANY (ARRAY(SELECT id FROM candidates))
RETURNING m.id, m.receipt, m.queue, m.type, m.execution_id, m.org, m.payload::text,
          m.headers::text, m.read_ct, m.last_error,
          extract(epoch FROM m.enqueued_at)::float8 AS enqueued_epoch,
          m.attempts, m.suspect, m.actor_type, m.actor_key,
          CASE WHEN m.actor_key IS NOT NULL
               THEN (SELECT a.state_version FROM postbox.actors a
                     WHERE a.actor_type = m.actor_type AND a.actor_key = m.actor_key) END
