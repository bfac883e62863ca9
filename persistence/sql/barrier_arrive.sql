-- $1 execution_id, $2 batch_index. One arrival row per batch: a batch arriving
-- twice counts once. The UPDATE that takes remaining to 0 is the one fire.
WITH b AS (
  SELECT expected FROM postbox.barriers WHERE execution_id = $1
), arrival AS (
  INSERT INTO postbox.barrier_arrivals (execution_id, batch_index)
  SELECT $1, $2 FROM b WHERE $2 >= 0 AND $2 < b.expected
  ON CONFLICT DO NOTHING
  RETURNING batch_index
), counted AS (
  UPDATE postbox.barriers
  SET remaining = remaining - 1, updated_at = now(),
      fired_at = CASE WHEN remaining = 1 THEN now() ELSE fired_at END
  WHERE execution_id = $1 AND remaining > 0 AND EXISTS (SELECT 1 FROM arrival)
  RETURNING remaining
)
SELECT (SELECT expected FROM b) AS expected,
       EXISTS (SELECT 1 FROM counted) AS counted,
       COALESCE((SELECT remaining FROM counted),
                (SELECT remaining FROM postbox.barriers WHERE execution_id = $1)) AS remaining
