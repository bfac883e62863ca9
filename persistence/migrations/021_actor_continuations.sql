-- 021: continuations to actors (issue 22). A continuation (headers on_success /
-- on_error, a fan_out's callback, an execution's own on_error) may name an actor,
-- {"actor": {"type": T, "key": K}, "type": ..., "payload": ...}, instead of or beside a
-- queue: it is then enqueued as a keyed message of that actor (numbered and parked or
-- made its head by the trigger of migration 019; with no queue, the actor type's).

-- The SQL API's check of one continuation: a queue, or an actor, or both.
CREATE OR REPLACE FUNCTION postbox.check_continuation(fn text, arg text, c jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF jsonb_typeof(c) IS DISTINCT FROM 'object' THEN
    PERFORM postbox.refuse(fn, arg || ' must be a JSON object, got ' || jsonb_typeof(c));
  END IF;
  IF postbox.given(c, 'actor') THEN
    IF jsonb_typeof(c->'actor') <> 'object'
       OR jsonb_typeof(c->'actor'->'type') IS DISTINCT FROM 'string'
       OR jsonb_typeof(c->'actor'->'key') IS DISTINCT FROM 'string'
       OR octet_length(c->'actor'->>'type') NOT BETWEEN 1 AND 256
       OR octet_length(c->'actor'->>'key') NOT BETWEEN 1 AND 256 THEN
      PERFORM postbox.refuse(fn, arg || '.actor must be {"type": string, "key": string}, '
                                 || 'each 1 to 256 bytes');
    END IF;
    IF postbox.given(c, 'queue') AND jsonb_typeof(c->'queue') <> 'string' THEN
      PERFORM postbox.refuse(fn, arg || '.queue must be a string');
    END IF;
  ELSIF jsonb_typeof(c->'queue') IS DISTINCT FROM 'string' OR c->>'queue' = '' THEN
    PERFORM postbox.refuse(fn, arg || '.queue is required (a non-empty string) unless '
                               || arg || '.actor names an actor');
  END IF;
  IF jsonb_typeof(c->'type') IS DISTINCT FROM 'string' OR c->>'type' = '' THEN
    PERFORM postbox.refuse(fn, arg || '.type is required (a non-empty string)');
  END IF;
  IF postbox.given(c, 'payload') AND jsonb_typeof(c->'payload') <> 'object' THEN
    PERFORM postbox.refuse(fn, arg || '.payload must be a JSON object, got '
                               || jsonb_typeof(c->'payload'));
  END IF;
END $$;

-- postbox.enqueue_on_error as in migration 016, its continuation now also to an actor.
CREATE OR REPLACE FUNCTION postbox.enqueue_on_error(ids text[]) RETURNS integer
LANGUAGE sql VOLATILE AS $$
  WITH sent AS (
    INSERT INTO postbox.mailbox (queue, type, execution_id, org, payload, actor_type, actor_key)
    SELECT COALESCE(e.headers->'on_error'->>'queue', ''), e.headers->'on_error'->>'type', NULL,
           NULLIF(e.org, ''),
           CASE WHEN jsonb_typeof(e.headers->'on_error'->'payload') = 'object'
                THEN e.headers->'on_error'->'payload' ELSE '{}'::jsonb END
           || jsonb_build_object('execution_id', e.id, 'status', e.status, 'error', e.error),
           e.headers->'on_error'->'actor'->>'type', e.headers->'on_error'->'actor'->>'key'
    FROM postbox.executions e
    WHERE e.id = ANY (ids) AND e.status IN ('COMPLETED', 'ERROR', 'STOPPED')
      AND (e.headers->'on_error'->>'queue' IS NOT NULL
           OR e.headers->'on_error'->'actor'->>'key' IS NOT NULL)
      AND e.headers->'on_error'->>'type' IS NOT NULL
    RETURNING 1)
  SELECT count(*)::integer FROM sent
$$;
