-- $1 group_id, $2 child_index, $3 status ('ok' | 'error'), $4 result jsonb (or NULL),
-- $5 error (or NULL), $6 message_id (or NULL). One arrival row per child: a child
-- arriving twice counts once. Only the message a fan_out enqueued at that index
-- arrives (child_ids); a barrier armed without child ids takes arrivals without a
-- message id only (the pipeline's batches before 005).
-- Counting: on a group without shards, the UPDATE of the group's row that takes
-- remaining to 0 is the one fire. On a sharded group (008), the arrival decrements its
-- shard; only the one that takes the shard to 0 decrements the group's row (open
-- shards), and the one taking that to 0 fires. Each row lock serializes its counter,
-- so exactly one arrival fires either way. `callback` tells the firing arrival there
-- is a stored callback to enqueue (barrier_fire.sql). `remaining`: children still
-- expected, or on a sharded group the shards still open.
WITH b AS (
  SELECT expected, shards, callback, child_ids FROM postbox.barriers WHERE group_id = $1
), s AS (
  SELECT sh.shard, sh.child_ids[$2 / NULLIF(b.shards, 0) + 1] AS child_id
  FROM b JOIN postbox.barrier_shards sh
    ON sh.group_id = $1 AND sh.shard = $2 % NULLIF(b.shards, 0)
  WHERE b.shards > 0 AND $2 >= 0
), arrival AS (
  INSERT INTO postbox.barrier_arrivals (group_id, child_index, status, result, error, message_id)
  SELECT $1, $2, $3, $4::jsonb, $5, $6 FROM b
  WHERE $2 >= 0 AND $2 < b.expected
    AND CASE WHEN b.shards > 0 THEN (SELECT child_id FROM s) = $6::bigint
             WHEN $6::bigint IS NULL THEN b.child_ids IS NULL
             ELSE b.child_ids[$2 + 1] = $6::bigint END
  ON CONFLICT DO NOTHING
  RETURNING child_index
), shard_counted AS (
  UPDATE postbox.barrier_shards sh SET remaining = sh.remaining - 1
  FROM s
  WHERE sh.group_id = $1 AND sh.shard = s.shard AND sh.remaining > 0
    AND EXISTS (SELECT 1 FROM arrival)
  RETURNING sh.remaining
), counted AS (
  UPDATE postbox.barriers
  SET remaining = remaining - 1, updated_at = now(),
      fired_at = CASE WHEN remaining = 1 THEN now() ELSE fired_at END
  WHERE group_id = $1 AND remaining > 0 AND EXISTS (SELECT 1 FROM arrival)
    AND ((SELECT shards FROM b) = 0 OR EXISTS (SELECT 1 FROM shard_counted WHERE remaining = 0))
  RETURNING remaining
)
SELECT (SELECT expected FROM b) AS expected,
       EXISTS (SELECT 1 FROM arrival) AS counted,
       COALESCE((SELECT remaining FROM counted),
                (SELECT remaining FROM postbox.barriers WHERE group_id = $1)) AS remaining,
       (SELECT callback IS NOT NULL FROM b) AS has_callback,
       EXISTS (SELECT 1 FROM counted WHERE remaining = 0) AS fired
