-- $1 group_id, $2 expected arrivals, $3 execution_id (or NULL), $4 callback jsonb
-- (or NULL), $5 parent_message_id (or NULL), $6 child message ids (bigint[], or NULL),
-- $7 shards (0: count on the group's row). A sharded group keeps child index i's
-- message id in shard i % $7 at position i / $7 (see 008_barrier_shards.sql), and its
-- row's remaining counts open shards. Returns whether this call armed the group: a
-- group id already armed arms nothing (the caller refuses the fan_out, or its new
-- children would wait for a barrier that never counts them).
WITH armed AS (
  INSERT INTO postbox.barriers (group_id, expected, remaining, execution_id, callback,
                                parent_message_id, child_ids, shards)
  VALUES ($1, $2, CASE WHEN $7::int > 0 THEN $7::int ELSE $2 END, $3, $4::jsonb, $5,
          CASE WHEN $7::int > 0 THEN NULL ELSE $6::bigint[] END, $7::int)
  ON CONFLICT (group_id) DO NOTHING
  RETURNING group_id
), sharded AS (
  INSERT INTO postbox.barrier_shards (group_id, shard, expected, remaining, child_ids)
  SELECT armed.group_id, (c.i - 1) % NULLIF($7::int, 0), count(*), count(*),
         array_agg(c.id ORDER BY c.i)
  FROM armed, unnest($6::bigint[]) WITH ORDINALITY AS c(id, i)
  WHERE $7::int > 0
  GROUP BY armed.group_id, (c.i - 1) % NULLIF($7::int, 0)
  RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM armed)
