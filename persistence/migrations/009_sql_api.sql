-- 009: the SQL API (DESIGN.md, "SQL API"): postbox.send and postbox.submit, callable
-- inside the caller's own transaction, so a business row and its messages commit
-- together or not at all (transactional enqueue). They validate what a node would refuse
-- and raise SQLSTATE 22023 with a message naming the argument; the mailbox's insert
-- trigger sends the NOTIFY, as for the C++ client. Nodes record their topology's
-- workflows in postbox.workflows when they start, so submit can refuse an unknown one.
CREATE TABLE postbox.workflows (
  name        text PRIMARY KEY,
  processor   text        NOT NULL,
  batch_size  integer     NOT NULL CHECK (batch_size > 0),
  recorded_by text        NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now()
);

-- Raises invalid_parameter_value (22023) as "FN: TEXT".
CREATE FUNCTION postbox.refuse(fn text, problem text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '%: %', fn, problem USING ERRCODE = '22023';
END $$;

-- A continuation (on_success / on_error): {queue, type[, payload object]}.
CREATE FUNCTION postbox.check_continuation(fn text, arg text, c jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF jsonb_typeof(c) IS DISTINCT FROM 'object' THEN
    PERFORM postbox.refuse(fn, arg || ' must be a JSON object, got ' || jsonb_typeof(c));
  END IF;
  IF jsonb_typeof(c->'queue') IS DISTINCT FROM 'string' OR c->>'queue' = '' THEN
    PERFORM postbox.refuse(fn, arg || '.queue is required (a non-empty string)');
  END IF;
  IF jsonb_typeof(c->'type') IS DISTINCT FROM 'string' OR c->>'type' = '' THEN
    PERFORM postbox.refuse(fn, arg || '.type is required (a non-empty string)');
  END IF;
  IF c ? 'payload' AND jsonb_typeof(c->'payload') IS DISTINCT FROM 'object' THEN
    PERFORM postbox.refuse(fn, arg || '.payload must be a JSON object, got '
                               || jsonb_typeof(c->'payload'));
  END IF;
END $$;

-- Message headers, as the nodes decode them (messages/json_codec.cpp).
CREATE FUNCTION postbox.check_headers(fn text, headers jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF jsonb_typeof(headers) IS DISTINCT FROM 'object' THEN
    PERFORM postbox.refuse(fn, 'headers must be a JSON object, got '
                               || COALESCE(jsonb_typeof(headers), 'NULL'));
  END IF;
  IF headers ? 'on_success' THEN
    PERFORM postbox.check_continuation(fn, 'headers.on_success', headers->'on_success');
  END IF;
  IF headers ? 'on_error' THEN
    PERFORM postbox.check_continuation(fn, 'headers.on_error', headers->'on_error');
  END IF;
  IF headers ? 'reply_key' AND jsonb_typeof(headers->'reply_key') <> 'string' THEN
    PERFORM postbox.refuse(fn, 'headers.reply_key must be a string');
  END IF;
  IF headers ? 'trace_id' AND jsonb_typeof(headers->'trace_id') <> 'string' THEN
    PERFORM postbox.refuse(fn, 'headers.trace_id must be a string');
  END IF;
  IF headers ? 'group' AND (jsonb_typeof(headers->'group') <> 'object'
      OR jsonb_typeof(headers->'group'->'id') IS DISTINCT FROM 'string'
      OR jsonb_typeof(headers->'group'->'index') IS DISTINCT FROM 'number') THEN
    PERFORM postbox.refuse(fn, 'headers.group must be {"id": string, "index": integer}');
  END IF;
END $$;

-- A JSON array of strings with at least one element (the pipeline's file lists).
CREATE FUNCTION postbox.is_string_array(v jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_typeof(v) = 'array'
     AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(v) e WHERE jsonb_typeof(e) <> 'string')
$$;

CREATE FUNCTION postbox.send(queue text, type text, payload jsonb,
                             headers jsonb DEFAULT '{}', execution_id text DEFAULT NULL,
                             org text DEFAULT NULL, delay interval DEFAULT '0')
RETURNS bigint
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  fn constant text := 'postbox.send';
  new_id bigint;
BEGIN
  IF queue IS NULL OR queue = '' THEN PERFORM postbox.refuse(fn, 'queue is required'); END IF;
  IF type IS NULL OR type = '' THEN PERFORM postbox.refuse(fn, 'type is required'); END IF;
  IF jsonb_typeof(payload) IS DISTINCT FROM 'object' THEN
    PERFORM postbox.refuse(fn, 'payload must be a JSON object, got '
                               || COALESCE(jsonb_typeof(payload), 'NULL'));
  END IF;
  PERFORM postbox.check_headers(fn, headers);
  IF delay IS NULL OR delay < interval '0' THEN
    PERFORM postbox.refuse(fn, 'delay must be zero or more');
  END IF;
  -- The pipeline's own types: what their handlers could not decode.
  IF type IN ('execute_workflow', 'process_file_batch', 'execution_callback')
     AND (jsonb_typeof(payload->'execution_id') IS DISTINCT FROM 'string'
          OR payload->>'execution_id' = '') THEN
    PERFORM postbox.refuse(fn, 'payload.execution_id is required for a ' || type);
  END IF;
  IF type = 'execute_workflow' THEN
    IF jsonb_typeof(payload->'workflow') IS DISTINCT FROM 'string' OR payload->>'workflow' = '' THEN
      PERFORM postbox.refuse(fn, 'payload.workflow is required for an execute_workflow');
    END IF;
    IF NOT (COALESCE(postbox.is_string_array(payload->'files'), false)
            AND jsonb_array_length(payload->'files') > 0
            OR COALESCE(postbox.is_string_array(payload->'blob_ids'), false)
            AND jsonb_array_length(payload->'blob_ids') > 0) THEN
      PERFORM postbox.refuse(fn, 'payload.files (or blob_ids) must be a non-empty array of strings');
    END IF;
  ELSIF type = 'process_file_batch' THEN
    IF jsonb_typeof(payload->'batch_index') IS DISTINCT FROM 'number' THEN
      PERFORM postbox.refuse(fn, 'payload.batch_index is required for a process_file_batch');
    END IF;
    IF NOT COALESCE(postbox.is_string_array(payload->'files'), false) THEN
      PERFORM postbox.refuse(fn, 'payload.files must be an array of strings');
    END IF;
  END IF;
  -- The identity columns, from the payload when not given (as `postbox send` does).
  INSERT INTO postbox.mailbox (queue, type, execution_id, org, payload, headers, visible_at)
  VALUES (queue, type,
          COALESCE(execution_id, CASE WHEN jsonb_typeof(payload->'execution_id') = 'string'
                                      THEN payload->>'execution_id' END),
          COALESCE(org, CASE WHEN jsonb_typeof(payload->'org') = 'string'
                             THEN payload->>'org' END),
          payload, headers, now() + delay)
  RETURNING id INTO new_id;
  RETURN new_id;
END $$;

CREATE FUNCTION postbox.submit(workflow text, files text[], batch_size int DEFAULT NULL,
                               org text DEFAULT '', headers jsonb DEFAULT '{}')
RETURNS text
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  fn constant text := 'postbox.submit';
  new_id text := gen_random_uuid()::text;
  known text;
BEGIN
  IF workflow IS NULL OR workflow = '' THEN PERFORM postbox.refuse(fn, 'workflow is required'); END IF;
  IF NOT EXISTS (SELECT 1 FROM postbox.workflows w WHERE w.name = workflow) THEN
    SELECT string_agg(w.name, ', ' ORDER BY w.name) INTO known FROM postbox.workflows w;
    PERFORM postbox.refuse(fn, 'unknown workflow "' || workflow || '" (known: '
                               || COALESCE(known, 'none yet: nodes record theirs when they start')
                               || ')');
  END IF;
  IF files IS NULL OR cardinality(files) = 0 THEN
    PERFORM postbox.refuse(fn, 'files is empty: an execution needs at least one file');
  END IF;
  IF array_position(files, NULL) IS NOT NULL OR array_position(files, '') IS NOT NULL THEN
    PERFORM postbox.refuse(fn, 'files[' || COALESCE(array_position(files, NULL),
                                                    array_position(files, '')) || '] is empty');
  END IF;
  IF batch_size IS NOT NULL AND batch_size <= 0 THEN
    PERFORM postbox.refuse(fn, 'batch_size must be a positive integer, got ' || batch_size);
  END IF;
  PERFORM postbox.check_headers(fn, headers);
  -- Exactly the rows `postbox submit` creates (client::submit).
  INSERT INTO postbox.executions (id, org, workflow, batch_size, files_total, headers)
  VALUES (new_id, COALESCE(org, ''), workflow, COALESCE(batch_size, 10), cardinality(files),
          headers);
  INSERT INTO postbox.mailbox (queue, type, execution_id, org, payload, headers)
  VALUES ('orchestrator', 'execute_workflow', new_id, COALESCE(org, ''),
          jsonb_build_object('org', COALESCE(org, ''), 'workflow', workflow,
                             'execution_id', new_id, 'files', to_jsonb(files),
                             'blob_ids', '[]'::jsonb, 'batch_size', COALESCE(batch_size, 0)),
          headers);
  RETURN new_id;
END $$;
