-- Members of open groups that can never arrive on their own (guarantee 9): the message
-- the group enqueued at that index is gone from the mailbox, it has no arrival, and no
-- open group's callback holds its place (a child that fanned out again). Only groups quiet
-- for $1 ms (no arrival since), and never a group of an execution still QUEUED or
-- EXECUTING: the stranded sweep ends such an execution first (a group of a running
-- execution fired by lost members would complete it). At most $2 members. Each comes with
-- the error it arrives with: the execution its message had started (a workflow child of a
-- chord, by the inner group's parent message), else the group's execution, else "lost".
-- Statement cost: a lookup into arrivals and the mailbox per member of a quiet group.
WITH quiet AS (
  SELECT b.group_id, b.expected, b.shards, b.child_ids, b.execution_id
  FROM postbox.barriers b
  LEFT JOIN postbox.executions e ON e.id = b.execution_id
  WHERE b.fired_at IS NULL
    AND b.updated_at < now() - $1::bigint * interval '1 millisecond'
    AND (b.child_ids IS NOT NULL OR b.shards > 0)
    AND (b.execution_id IS NULL OR e.id IS NULL OR e.status IN ('COMPLETED', 'ERROR', 'STOPPED'))
  ORDER BY b.updated_at
  LIMIT 20
), members AS (
  SELECT q.group_id, i AS child_index, q.execution_id,
         CASE WHEN q.shards > 0
              THEN (SELECT sh.child_ids[i / q.shards + 1] FROM postbox.barrier_shards sh
                    WHERE sh.group_id = q.group_id AND sh.shard = i % q.shards)
              ELSE q.child_ids[i + 1] END AS message_id
  FROM quiet q CROSS JOIN LATERAL generate_series(0, q.expected - 1) AS i
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
