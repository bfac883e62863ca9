-- Actor types (of type $1 when not NULL): the registered ones and any with a key that
-- has a head, each with its queue and poison policy (NULL when no node registered
-- it), its keys with a backlog (a head), its blocked keys and its oldest head's age
-- (s). The keys are read by the partial indexes actors_head_idx and
-- actors_blocked_idx: proportional to the keys with work, never to idle keys.
WITH heads AS (
  SELECT actor_type, count(*) AS n, max(extract(epoch FROM now() - head_since)) AS oldest
  FROM postbox.actors WHERE head_id IS NOT NULL GROUP BY actor_type
), blocked AS (
  SELECT actor_type, count(*) AS n FROM postbox.actors WHERE blocked_at IS NOT NULL
  GROUP BY actor_type
), names AS (
  SELECT actor_type FROM postbox.actor_types
  UNION SELECT actor_type FROM heads UNION SELECT actor_type FROM blocked
)
SELECT n.actor_type, t.queue, t.on_poison, COALESCE(h.n, 0), COALESCE(b.n, 0),
       COALESCE(h.oldest, 0)::float8
FROM names n LEFT JOIN postbox.actor_types t USING (actor_type)
     LEFT JOIN heads h USING (actor_type) LEFT JOIN blocked b USING (actor_type)
WHERE $1::text IS NULL OR n.actor_type = $1
ORDER BY n.actor_type
