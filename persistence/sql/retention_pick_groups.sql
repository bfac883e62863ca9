-- Groups of no execution (a handler's own fan_out) that fired more than $1 milliseconds
-- ago, at most $2. An open group is never picked: its callback has yet to fire.
SELECT group_id FROM postbox.barriers
WHERE execution_id IS NULL AND fired_at IS NOT NULL
  AND fired_at < now() - $1::bigint * interval '1 millisecond'
ORDER BY fired_at
LIMIT $2
