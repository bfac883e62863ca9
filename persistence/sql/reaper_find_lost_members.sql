-- Members of open groups that can never arrive on their own (guarantee 9): the message
-- the group enqueued at that index is gone from the mailbox, it has no arrival, and no
-- open group's callback holds its place (a child that fanned out again). At most 20
-- groups a statement: quiet for $1 ms (no arrival counted on the group's row since) and
-- not examined within $1 ms, least recently examined first (swept_at, set here: a group
-- whose children only wait in a backlog takes its turn and gives it up); never a group
-- of an execution still QUEUED or EXECUTING (the stranded sweep ends that execution
-- first: lost batches arriving would fire its callback and complete it); a group whose
-- row is locked (an arrival in progress) is skipped. At most $2 members. Each comes with
-- the error it arrives with: that of the execution its message had started (a workflow
-- child of a chord, by the inner group's parent message), else of the group's execution,
-- else "lost". Cost: one pass over each examined group's child ids, one index lookup
-- into arrivals and the mailbox per member.
WITH quiet AS (
  SELECT b.group_id, b.shards, b.child_ids, b.execution_id
  FROM postbox.barriers b
  LEFT JOIN postbox.executions e ON e.id = b.execution_id
  WHERE b.fired_at IS NULL
    AND b.updated_at < now() - $1::bigint * interval '1 millisecond'
    AND (b.swept_at IS NULL OR b.swept_at < now() - $1::bigint * interval '1 millisecond')
    AND (b.child_ids IS NOT NULL OR b.shards > 0)
    AND (b.execution_id IS NULL OR e.id IS NULL OR e.status IN ('COMPLETED', 'ERROR', 'STOPPED'))
  ORDER BY b.swept_at NULLS FIRST, b.updated_at
  LIMIT 20
  FOR UPDATE OF b SKIP LOCKED
), swept AS (
  UPDATE postbox.barriers b SET swept_at = now() FROM quiet q WHERE b.group_id = q.group_id
), members AS (
  SELECT q.group_id, (c.i - 1)::int AS child_index, q.execution_id, c.id AS message_id
  FROM quiet q CROSS JOIN LATERAL unnest(q.child_ids) WITH ORDINALITY AS c(id, i)
  WHERE q.shards = 0
  UNION ALL
  -- A sharded group keeps child index i at position i / shards of shard i % shards.
  SELECT q.group_id, ((c.i - 1) * q.shards + sh.shard)::int, q.execution_id, c.id
  FROM quiet q
  JOIN postbox.barrier_shards sh ON sh.group_id = q.group_id
  CROSS JOIN LATERAL unnest(sh.child_ids) WITH ORDINALITY AS c(id, i)
  WHERE q.shards > 0
), gone AS MATERIALIZED (
  SELECT m.* FROM members m
  WHERE m.message_id IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM postbox.barrier_arrivals a
                    WHERE a.group_id = m.group_id AND a.child_index = m.child_index)
    AND NOT EXISTS (SELECT 1 FROM postbox.mailbox mb WHERE mb.id = m.message_id)
), held AS MATERIALIZED (
  SELECT h.callback->'headers'->'group'->>'id' AS group_id,
         h.callback->'headers'->'group'->>'index' AS child_index
  FROM postbox.barriers h
  WHERE h.fired_at IS NULL AND h.callback->'headers' ? 'group'
)
SELECT g.group_id, g.child_index, g.message_id,
       COALESCE(
         (SELECT e.error FROM postbox.barriers ib JOIN postbox.executions e ON e.id = ib.execution_id
          WHERE ib.parent_message_id = g.message_id AND e.error IS NOT NULL LIMIT 1),
         (SELECT e.error FROM postbox.executions e
          WHERE e.id = g.execution_id AND e.error IS NOT NULL),
         'lost: message ' || g.message_id || ' left the mailbox without arriving')
FROM gone g
WHERE NOT EXISTS (SELECT 1 FROM held h
                  WHERE h.group_id = g.group_id AND h.child_index = g.child_index::text)
ORDER BY g.group_id, g.child_index
LIMIT $2
