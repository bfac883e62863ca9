-- $1 execution id, $2 an on_error continuation (jsonb). Whether it is the execution's own
-- (copied onto its messages), compared as values: queue, type and actor, and the payload as
-- jsonb (5.0 and 5, key order and spacing are the same value; a missing or non-object
-- payload is {}, as the decoder and postbox.enqueue_on_error read it), whatever wrote the
-- headers (a Python client, Boost.JSON, PostgreSQL).
WITH mine AS (SELECT $2::jsonb AS c)
SELECT COALESCE((
  SELECT COALESCE(e.headers->'on_error'->>'queue', '') = COALESCE(mine.c->>'queue', '')
         AND e.headers->'on_error'->>'type' = mine.c->>'type'
         AND e.headers->'on_error'->'actor' IS NOT DISTINCT FROM mine.c->'actor'
         AND (CASE WHEN jsonb_typeof(e.headers->'on_error'->'payload') = 'object'
                   THEN e.headers->'on_error'->'payload' ELSE '{}'::jsonb END)
             = (CASE WHEN jsonb_typeof(mine.c->'payload') = 'object'
                     THEN mine.c->'payload' ELSE '{}'::jsonb END)
  FROM postbox.executions e, mine WHERE e.id = $1), false)
