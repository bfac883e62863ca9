-- 024: priorities (issue 23 item 3). A message has one of four tiers, 0 low, 1 normal
-- (the default), 2 high, 3 urgent; the claim takes the highest tier first, one index
-- range per tier (mailbox_read.sql). The claim indexes gain priority after queue (and
-- type): they REPLACE the old ones rather than adding a second pair, because every claim
-- and ack rewrites visible_at (each index is one more write per row).
-- No starvation: the reaper moves a ready message that has waited n x aging_after up
-- to at least tier n (reaper_age_priorities.sql). Inside an actor key the order is the
-- commit order: only a key's head is claimable, so priority orders heads across keys.

ALTER TABLE postbox.mailbox
  ADD COLUMN priority smallint NOT NULL DEFAULT 1
    CONSTRAINT mailbox_priority_check CHECK (priority BETWEEN 0 AND 3);

DROP INDEX postbox.mailbox_claim_idx;
CREATE INDEX mailbox_claim_idx ON postbox.mailbox (queue, priority, visible_at, id);
DROP INDEX postbox.mailbox_type_claim_idx;
CREATE INDEX mailbox_type_claim_idx ON postbox.mailbox (queue, type, priority, visible_at, id);

-- The topology's default tier per message type (`priorities: types:`), written by every
-- node at start; a send that names no priority takes its type's, else normal.
CREATE TABLE postbox.type_priorities (
  type          text PRIMARY KEY,
  priority      smallint    NOT NULL CHECK (priority BETWEEN 0 AND 3),
  registered_by text,
  registered_at timestamptz NOT NULL DEFAULT now()
);

-- A tier's name to its number; NULL stays NULL (the type's default); anything else is
-- refused naming the four names.
CREATE FUNCTION postbox.priority_of(fn text, name text) RETURNS smallint
LANGUAGE plpgsql AS $$
BEGIN
  IF name IS NULL THEN RETURN NULL; END IF;
  CASE name
    WHEN 'low' THEN RETURN 0;
    WHEN 'normal' THEN RETURN 1;
    WHEN 'high' THEN RETURN 2;
    WHEN 'urgent' THEN RETURN 3;
    ELSE PERFORM postbox.refuse(fn, 'priority must be one of low, normal, high, urgent, got "'
                                    || name || '"');
  END CASE;
  RETURN NULL;
END $$;

-- The SQL API's send takes priority from migration 026 (with 023's dedup keys and 025's
-- limit keys).

-- postbox.enqueue_on_error as in migration 021, its continuation with its tier (a name;
-- none: the type's default, else normal).
CREATE OR REPLACE FUNCTION postbox.enqueue_on_error(ids text[]) RETURNS integer
LANGUAGE sql VOLATILE AS $$
  WITH sent AS (
    INSERT INTO postbox.mailbox (queue, type, execution_id, org, payload, actor_type, actor_key,
                                 priority)
    SELECT COALESCE(e.headers->'on_error'->>'queue', ''), e.headers->'on_error'->>'type', NULL,
           NULLIF(e.org, ''),
           CASE WHEN jsonb_typeof(e.headers->'on_error'->'payload') = 'object'
                THEN e.headers->'on_error'->'payload' ELSE '{}'::jsonb END
           || jsonb_build_object('execution_id', e.id, 'status', e.status, 'error', e.error),
           e.headers->'on_error'->'actor'->>'type', e.headers->'on_error'->'actor'->>'key',
           COALESCE(CASE e.headers->'on_error'->>'priority' WHEN 'low' THEN 0 WHEN 'normal' THEN 1
                         WHEN 'high' THEN 2 WHEN 'urgent' THEN 3 END,
                    (SELECT tp.priority FROM postbox.type_priorities tp
                     WHERE tp.type = e.headers->'on_error'->>'type'), 1)
    FROM postbox.executions e
    WHERE e.id = ANY (ids) AND e.status IN ('COMPLETED', 'ERROR', 'STOPPED')
      AND (e.headers->'on_error'->>'queue' IS NOT NULL
           OR e.headers->'on_error'->'actor'->>'key' IS NOT NULL)
      AND e.headers->'on_error'->>'type' IS NOT NULL
    RETURNING 1)
  SELECT count(*)::integer FROM sent
$$;
