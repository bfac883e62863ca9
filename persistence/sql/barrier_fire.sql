-- $1 group_id. The stored callback of a group that has just fired, as the message
-- to enqueue: its payload object plus `group` and `results`, every child's outcome
-- in child order ({index, status: "ok", result} or {index, status: "error", error}).
-- Built here, so no result is ever parsed (or refused) on the way. Also: the group
-- and index the callback takes over from the message that fanned out (nested groups).
SELECT b.callback->>'queue', b.callback->>'type', b.callback->>'execution_id',
       b.callback->>'org',
       ((CASE WHEN jsonb_typeof(b.callback->'payload') = 'object' THEN b.callback->'payload'
              ELSE '{}'::jsonb END)
        || jsonb_build_object(
             'group', b.group_id,
             'results', COALESCE((
               SELECT jsonb_agg(CASE WHEN a.status = 'ok'
                                     THEN jsonb_build_object('index', a.child_index,
                                                             'status', a.status,
                                                             'result', a.result)
                                     ELSE jsonb_build_object('index', a.child_index,
                                                             'status', a.status,
                                                             'error', a.error)
                                END ORDER BY a.child_index)
               FROM postbox.barrier_arrivals a WHERE a.group_id = b.group_id), '[]'::jsonb)))::text,
       COALESCE(b.callback->'headers', '{}'::jsonb)::text,
       b.callback->'headers'->'group'->>'id',
       (b.callback->'headers'->'group'->>'index')::int,
       b.parent_message_id
FROM postbox.barriers b WHERE b.group_id = $1 AND b.callback IS NOT NULL
