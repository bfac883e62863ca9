-- $1 group_id, $2 child_index, $3 status ('ok' | 'error'), $4 result jsonb (or NULL),
-- $5 error (or NULL), $6 message_id (or NULL). One arrival row per child: a child
-- arriving twice counts once. Only the message a fan_out enqueued at that index
-- arrives (child_ids); a barrier armed without child ids takes arrivals without a
-- message id only (the pipeline's batches before 005). The UPDATE that takes
-- remaining to 0 is the one fire; `callback` tells the firing arrival there is a
-- stored callback to enqueue (barrier_fire.sql).
WITH b AS (
  SELECT expected, callback, child_ids FROM postbox.barriers WHERE group_id = $1
), arrival AS (
  INSERT INTO postbox.barrier_arrivals (group_id, child_index, status, result, error, message_id)
  SELECT $1, $2, $3, $4::jsonb, $5, $6 FROM b
  WHERE $2 >= 0 AND $2 < b.expected
    AND CASE WHEN $6::bigint IS NULL THEN b.child_ids IS NULL
             ELSE b.child_ids[$2 + 1] = $6::bigint END
  ON CONFLICT DO NOTHING
  RETURNING child_index
), counted AS (
  UPDATE postbox.barriers
  SET remaining = remaining - 1, updated_at = now(),
      fired_at = CASE WHEN remaining = 1 THEN now() ELSE fired_at END
  WHERE group_id = $1 AND remaining > 0 AND EXISTS (SELECT 1 FROM arrival)
  RETURNING remaining
)
SELECT (SELECT expected FROM b) AS expected,
       EXISTS (SELECT 1 FROM counted) AS counted,
       COALESCE((SELECT remaining FROM counted),
                (SELECT remaining FROM postbox.barriers WHERE group_id = $1)) AS remaining,
       (SELECT callback IS NOT NULL FROM b) AS has_callback
