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

-- The SQL API's send with a priority (a tier's name; NULL: the type's default, else
-- normal). Same checks and rights as migration 019's.
DROP FUNCTION postbox.send(text, text, jsonb, jsonb, text, text, interval, text, text);
CREATE FUNCTION postbox.send(queue text, type text, payload jsonb,
                             headers jsonb DEFAULT '{}',
                             execution_id text DEFAULT NULL, org text DEFAULT NULL,
                             delay interval DEFAULT '0',
                             actor_type text DEFAULT NULL, actor_key text DEFAULT NULL,
                             priority text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
  fn constant text := 'postbox.send';
  pipeline constant boolean :=
    type IN ('execute_workflow', 'process_file_batch', 'execution_callback');
  tier smallint;
  new_id bigint;
BEGIN
  tier := postbox.priority_of(fn, priority);
  IF (actor_type IS NULL) <> (actor_key IS NULL) THEN
    PERFORM postbox.refuse(fn, 'actor_type and actor_key go together');
  END IF;
  IF actor_key IS NOT NULL THEN
    IF actor_type = '' THEN PERFORM postbox.refuse(fn, 'actor_type must not be empty'); END IF;
    IF octet_length(actor_key) NOT BETWEEN 1 AND 256 THEN
      PERFORM postbox.refuse(fn, 'actor_key must be 1 to 256 bytes, got '
                                 || octet_length(actor_key));
    END IF;
    IF delay IS DISTINCT FROM interval '0' THEN
      PERFORM postbox.refuse(fn, 'a message to an actor is not delayed (its turn comes in order)');
    END IF;
    IF pipeline THEN PERFORM postbox.refuse(fn, 'a ' || type || ' is not sent to an actor'); END IF;
  ELSIF queue IS NULL OR queue = '' THEN
    PERFORM postbox.refuse(fn, 'queue is required');
  END IF;
  IF type IS NULL OR type = '' THEN PERFORM postbox.refuse(fn, 'type is required'); END IF;
  IF jsonb_typeof(payload) IS DISTINCT FROM 'object' THEN
    PERFORM postbox.refuse(fn, 'payload must be a JSON object, got '
                               || COALESCE(jsonb_typeof(payload), 'NULL'));
  END IF;
  PERFORM postbox.check_headers(fn, headers);
  IF jsonb_typeof(headers) = 'object' THEN  -- a continuation's tier, by name
    PERFORM postbox.priority_of(fn || ': headers.on_success', headers->'on_success'->>'priority'),
            postbox.priority_of(fn || ': headers.on_error', headers->'on_error'->>'priority');
  END IF;
  IF delay IS NULL THEN PERFORM postbox.refuse(fn, 'delay must be an interval, got NULL'); END IF;
  IF delay < interval '0' THEN PERFORM postbox.refuse(fn, 'delay must be zero or more'); END IF;
  PERFORM postbox.check_pipeline_payload(fn, type, payload);
  IF pipeline AND execution_id IS NOT NULL AND execution_id <> payload->>'execution_id' THEN
    PERFORM postbox.refuse(fn, 'execution_id "' || execution_id || '" differs from '
                               || 'payload.execution_id "' || (payload->>'execution_id') || '"');
  END IF;
  IF pipeline AND org IS NOT NULL AND org IS DISTINCT FROM COALESCE(payload->>'org', org) THEN
    PERFORM postbox.refuse(fn, 'org "' || org || '" differs from payload.org "'
                               || (payload->>'org') || '"');
  END IF;
  IF actor_key IS NOT NULL AND COALESCE(queue, '') = ''
     AND NOT EXISTS (SELECT 1 FROM postbox.actor_types a WHERE a.actor_type = actor_type) THEN
    PERFORM postbox.refuse(fn, 'actor type "' || actor_type || '" is not served by any node '
                               || '(no queue is known for it): name the queue');
  END IF;
  INSERT INTO postbox.mailbox (queue, type, execution_id, org, payload, headers, visible_at,
                               actor_type, actor_key, priority)
  VALUES (COALESCE(queue, ''), type,
          NULLIF(COALESCE(execution_id, CASE WHEN jsonb_typeof(payload->'execution_id') = 'string'
                                             THEN payload->>'execution_id' END), ''),
          NULLIF(COALESCE(org, CASE WHEN jsonb_typeof(payload->'org') = 'string'
                                    THEN payload->>'org' END), ''),
          payload, headers, now() + delay, actor_type, actor_key,
          COALESCE(tier, (SELECT tp.priority FROM postbox.type_priorities tp
                          WHERE tp.type = type), 1))
  RETURNING id INTO new_id;
  RETURN new_id;
END $$;

REVOKE EXECUTE ON FUNCTION
  postbox.send(text, text, jsonb, jsonb, text, text, interval, text, text, text)
  FROM PUBLIC;
DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'postbox_client') THEN
    GRANT EXECUTE ON FUNCTION
      postbox.send(text, text, jsonb, jsonb, text, text, interval, text, text, text)
      TO postbox_client;
  END IF;
END $$;

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
