-- What is left of the groups $1 (text[]) and the executions $2 (text[]) once their
-- results, blobs and arrivals are gone: groups (their shards by cascade), claims, outbox rows, and the
-- executions themselves (last, so a sweep cut short finds them again). A few rows each.
WITH groups AS (
  DELETE FROM postbox.barriers
  WHERE group_id = ANY($1::text[]) OR (execution_id = ANY($2::text[]) AND fired_at IS NOT NULL)
  RETURNING group_id
), claims AS (
  DELETE FROM postbox.claims WHERE execution_id = ANY($2::text[])
), outbox AS (
  -- A pending webhook or usage record still goes out (its payload is whole): kept.
  DELETE FROM postbox.outbox WHERE execution_id = ANY($2::text[]) AND state <> 'pending'
), executions AS (
  DELETE FROM postbox.executions
  WHERE id = ANY($2::text[]) AND status IN ('COMPLETED', 'ERROR', 'STOPPED')
  RETURNING id
)
SELECT (SELECT count(*) FROM groups) AS groups, (SELECT count(*) FROM executions) AS executions
