-- $1 group_id, $2 child_index, $3 the message that held the place, $4 the message
-- that takes it. A child that fanned out hands its place in its own group to its
-- group's callback (or, with no children, to the callback it sent at once): that
-- message's outcome is then the child's. On a sharded group the place is in the
-- child's shard (see barrier_arm.sql).
WITH g AS (
  SELECT shards FROM postbox.barriers WHERE group_id = $1
), unsharded AS (
  UPDATE postbox.barriers
  SET child_ids[$2 + 1] = $4
  WHERE group_id = $1 AND shards = 0 AND child_ids[$2 + 1] = $3
  RETURNING 1
)
UPDATE postbox.barrier_shards sh
SET child_ids[$2 / NULLIF(g.shards, 0) + 1] = $4
FROM g
WHERE g.shards > 0 AND sh.group_id = $1 AND sh.shard = $2 % NULLIF(g.shards, 0)
  AND sh.child_ids[$2 / NULLIF(g.shards, 0) + 1] = $3
