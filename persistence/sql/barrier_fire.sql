-- $1 group_id. The stored callback of a group that has just fired, as the message
-- to enqueue: its payload object plus `group` and `results`, every child's outcome
-- in child order ({index, status: "ok", result} or {index, status: "error", error}).
-- Built here, so no result is ever parsed (or refused) on the way. A group of more than
-- 1,000 children, or whose results would not fit one jsonb, gets `results_paged: true`
-- and `results_count` instead (postbox.group_results_inline, migration 016): its
-- handler reads them in pages. Also: the group and index the callback takes over from
-- the message that fanned out (nested groups), and the actor the callback goes to, if
-- any (a keyed message in its turn; its queue may be '': the actor type's).
WITH r AS (SELECT postbox.group_results_inline($1) AS results)
SELECT b.callback->>'queue', b.callback->>'type', b.callback->>'execution_id',
       b.callback->>'org',
       ((CASE WHEN jsonb_typeof(b.callback->'payload') = 'object' THEN b.callback->'payload'
              ELSE '{}'::jsonb END)
        || jsonb_build_object('group', b.group_id)
        || CASE WHEN r.results IS NULL
                THEN jsonb_build_object('results_paged', true, 'results_count', b.expected)
                ELSE jsonb_build_object('results', r.results) END)::text,
       COALESCE(b.callback->'headers', '{}'::jsonb)::text,
       b.callback->'headers'->'group'->>'id',
       (b.callback->'headers'->'group'->>'index')::int,
       b.parent_message_id,
       b.callback->'actor'->>'type', b.callback->'actor'->>'key'
FROM postbox.barriers b, r WHERE b.group_id = $1 AND b.callback IS NOT NULL
