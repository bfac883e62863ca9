-- $1 group_id, $2 child index: the message id its fan_out enqueued at that index
-- (NULL when the group has no such index), and whether the group was armed without
-- child ids (the pipeline's batches before 005: nothing to compare). No row: no group
-- is armed under that id.
SELECT CASE WHEN $2::int < 0 OR $2::int >= b.expected THEN NULL
            WHEN b.shards > 0 THEN (SELECT sh.child_ids[$2::int / b.shards + 1]
                                    FROM postbox.barrier_shards sh
                                    WHERE sh.group_id = $1 AND sh.shard = $2::int % b.shards)
            ELSE b.child_ids[$2::int + 1] END,
       b.shards = 0 AND b.child_ids IS NULL
FROM postbox.barriers b WHERE b.group_id = $1
