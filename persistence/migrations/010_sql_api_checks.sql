-- 010: the SQL API checks exactly what the nodes decode (messages/json_codec.cpp), no
-- more and no less: JSON null is "absent" in an optional field (as the nodes read it);
-- integers are whole numbers in range; group ids are non-empty; the pipeline's payloads
-- are checked field by field; identity given beside a pipeline payload must agree with
-- it; empty identity is stored as NULL, as the C++ client stores it.

-- Whether `v` is a whole JSON number from lo to hi.
CREATE FUNCTION postbox.is_int(v jsonb, lo bigint, hi bigint) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_typeof(v) = 'number' AND v::text ~ '^-?[0-9]+$'
     AND v::text::numeric BETWEEN lo AND hi
$$;

-- Whether `o` has `key` with a value other than JSON null (an optional field given).
CREATE FUNCTION postbox.given(o jsonb, key text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT COALESCE(jsonb_typeof(o->key), 'null') <> 'null'
$$;

CREATE OR REPLACE FUNCTION postbox.check_continuation(fn text, arg text, c jsonb) RETURNS void
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
  IF postbox.given(c, 'payload') AND jsonb_typeof(c->'payload') <> 'object' THEN
    PERFORM postbox.refuse(fn, arg || '.payload must be a JSON object, got '
                               || jsonb_typeof(c->'payload'));
  END IF;
END $$;

CREATE OR REPLACE FUNCTION postbox.check_headers(fn text, headers jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF jsonb_typeof(headers) IS DISTINCT FROM 'object' THEN
    PERFORM postbox.refuse(fn, 'headers must be a JSON object, got '
                               || COALESCE(jsonb_typeof(headers), 'NULL'));
  END IF;
  IF postbox.given(headers, 'on_success') THEN
    PERFORM postbox.check_continuation(fn, 'headers.on_success', headers->'on_success');
  END IF;
  IF postbox.given(headers, 'on_error') THEN
    PERFORM postbox.check_continuation(fn, 'headers.on_error', headers->'on_error');
  END IF;
  IF postbox.given(headers, 'reply_key') AND jsonb_typeof(headers->'reply_key') <> 'string' THEN
    PERFORM postbox.refuse(fn, 'headers.reply_key must be a string');
  END IF;
  IF postbox.given(headers, 'trace_id') AND jsonb_typeof(headers->'trace_id') <> 'string' THEN
    PERFORM postbox.refuse(fn, 'headers.trace_id must be a string');
  END IF;
  IF postbox.given(headers, 'group') AND (jsonb_typeof(headers->'group') <> 'object'
      OR jsonb_typeof(headers->'group'->'id') IS DISTINCT FROM 'string'
      OR headers->'group'->>'id' = ''
      OR NOT postbox.is_int(headers->'group'->'index', 0, 2147483647)) THEN
    PERFORM postbox.refuse(fn, 'headers.group must be {"id": a non-empty string, "index": '
                               || 'an integer from 0}');
  END IF;
END $$;

-- The pipeline's payloads, field by field as their handlers decode them.
CREATE FUNCTION postbox.check_pipeline_payload(fn text, type text, payload jsonb)
RETURNS void
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  has_files boolean;
  has_blobs boolean;
BEGIN
  IF type NOT IN ('execute_workflow', 'process_file_batch', 'execution_callback') THEN
    RETURN;
  END IF;
  IF jsonb_typeof(payload->'execution_id') IS DISTINCT FROM 'string'
     OR payload->>'execution_id' = '' THEN
    PERFORM postbox.refuse(fn, 'payload.execution_id is required for type ' || type);
  END IF;
  IF type = 'execution_callback' THEN
    RETURN;
  END IF;
  IF postbox.given(payload, 'org') AND jsonb_typeof(payload->'org') <> 'string' THEN
    PERFORM postbox.refuse(fn, 'payload.org must be a string');
  END IF;
  IF type = 'execute_workflow' THEN
    IF jsonb_typeof(payload->'workflow') IS DISTINCT FROM 'string' OR payload->>'workflow' = '' THEN
      PERFORM postbox.refuse(fn, 'payload.workflow is required for type execute_workflow');
    END IF;
    IF postbox.given(payload, 'files') AND NOT postbox.is_string_array(payload->'files') THEN
      PERFORM postbox.refuse(fn, 'payload.files must be an array of strings');
    END IF;
    IF postbox.given(payload, 'blob_ids') AND NOT postbox.is_string_array(payload->'blob_ids') THEN
      PERFORM postbox.refuse(fn, 'payload.blob_ids must be an array of strings');
    END IF;
    has_files := postbox.given(payload, 'files') AND jsonb_array_length(payload->'files') > 0;
    has_blobs := postbox.given(payload, 'blob_ids')
                 AND jsonb_array_length(payload->'blob_ids') > 0;
    IF NOT (has_files OR has_blobs) THEN
      PERFORM postbox.refuse(fn, 'payload.files (or blob_ids) must be a non-empty array of strings');
    END IF;
    IF postbox.given(payload, 'batch_size')
       AND NOT postbox.is_int(payload->'batch_size', 0, 2147483647) THEN
      PERFORM postbox.refuse(fn, 'payload.batch_size must be an integer from 0');
    END IF;
  ELSE  -- process_file_batch
    IF NOT postbox.is_int(payload->'batch_index', 0, 2147483647) THEN
      PERFORM postbox.refuse(fn, 'payload.batch_index is required (an integer from 0) for type '
                                 || 'process_file_batch');
    END IF;
    IF NOT COALESCE(postbox.is_string_array(payload->'files'), false) THEN
      PERFORM postbox.refuse(fn, 'payload.files must be an array of strings');
    END IF;
    IF postbox.given(payload, 'workflow') AND jsonb_typeof(payload->'workflow') <> 'string' THEN
      PERFORM postbox.refuse(fn, 'payload.workflow must be a string');
    END IF;
  END IF;
END $$;

CREATE OR REPLACE FUNCTION postbox.send(queue text, type text, payload jsonb,
                                        headers jsonb DEFAULT '{}',
                                        execution_id text DEFAULT NULL, org text DEFAULT NULL,
                                        delay interval DEFAULT '0')
RETURNS bigint
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  fn constant text := 'postbox.send';
  pipeline constant boolean :=
    type IN ('execute_workflow', 'process_file_batch', 'execution_callback');
  new_id bigint;
BEGIN
  IF queue IS NULL OR queue = '' THEN PERFORM postbox.refuse(fn, 'queue is required'); END IF;
  IF type IS NULL OR type = '' THEN PERFORM postbox.refuse(fn, 'type is required'); END IF;
  IF jsonb_typeof(payload) IS DISTINCT FROM 'object' THEN
    PERFORM postbox.refuse(fn, 'payload must be a JSON object, got '
                               || COALESCE(jsonb_typeof(payload), 'NULL'));
  END IF;
  PERFORM postbox.check_headers(fn, headers);
  IF delay IS NULL THEN PERFORM postbox.refuse(fn, 'delay must be an interval, got NULL'); END IF;
  IF delay < interval '0' THEN PERFORM postbox.refuse(fn, 'delay must be zero or more'); END IF;
  PERFORM postbox.check_pipeline_payload(fn, type, payload);
  -- A pipeline message's identity is its payload's: a different one beside it would
  -- fail the wrong execution if the message were poisoned.
  IF pipeline AND execution_id IS NOT NULL AND execution_id <> payload->>'execution_id' THEN
    PERFORM postbox.refuse(fn, 'execution_id "' || execution_id || '" differs from '
                               || 'payload.execution_id "' || (payload->>'execution_id') || '"');
  END IF;
  IF pipeline AND org IS NOT NULL AND org IS DISTINCT FROM COALESCE(payload->>'org', org) THEN
    PERFORM postbox.refuse(fn, 'org "' || org || '" differs from payload.org "'
                               || (payload->>'org') || '"');
  END IF;
  -- The identity columns, from the payload when not given (as `postbox send` does);
  -- empty is NULL, as the C++ client stores it.
  INSERT INTO postbox.mailbox (queue, type, execution_id, org, payload, headers, visible_at)
  VALUES (queue, type,
          NULLIF(COALESCE(execution_id, CASE WHEN jsonb_typeof(payload->'execution_id') = 'string'
                                             THEN payload->>'execution_id' END), ''),
          NULLIF(COALESCE(org, CASE WHEN jsonb_typeof(payload->'org') = 'string'
                                    THEN payload->>'org' END), ''),
          payload, headers, now() + delay)
  RETURNING id INTO new_id;
  RETURN new_id;
END $$;

CREATE OR REPLACE FUNCTION postbox.submit(workflow text, files text[], batch_size int DEFAULT NULL,
                                          org text DEFAULT '', headers jsonb DEFAULT '{}')
RETURNS text
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  fn constant text := 'postbox.submit';
  new_id text := gen_random_uuid()::text;
  known text;
  bad int;
BEGIN
  IF workflow IS NULL OR workflow = '' THEN PERFORM postbox.refuse(fn, 'workflow is required'); END IF;
  IF NOT EXISTS (SELECT 1 FROM postbox.workflows w WHERE w.name = workflow) THEN
    SELECT string_agg(w.name, ', ' ORDER BY w.name) INTO known FROM postbox.workflows w;
    PERFORM postbox.refuse(fn, 'unknown workflow ''' || workflow || ''' (known: '
                               || COALESCE(known, 'none yet: nodes record theirs when they start')
                               || ')');
  END IF;
  IF files IS NULL OR cardinality(files) = 0 THEN
    PERFORM postbox.refuse(fn, 'files is empty: an execution needs at least one file');
  END IF;
  IF array_ndims(files) <> 1 THEN
    PERFORM postbox.refuse(fn, 'files must be a one-dimensional text[]');
  END IF;
  bad := COALESCE(array_position(files, NULL), array_position(files, ''));
  IF bad IS NOT NULL THEN PERFORM postbox.refuse(fn, 'files[' || bad || '] is empty'); END IF;
  IF batch_size IS NOT NULL AND (batch_size <= 0 OR batch_size > 1000000) THEN
    PERFORM postbox.refuse(fn, 'batch_size must be from 1 to 1000000, got ' || batch_size);
  END IF;
  PERFORM postbox.check_headers(fn, headers);
  -- Exactly the rows `postbox submit` creates (client::submit): the execution's org is
  -- '' by default, the message's NULL when empty.
  INSERT INTO postbox.executions (id, org, workflow, batch_size, files_total, headers)
  VALUES (new_id, COALESCE(org, ''), workflow, COALESCE(batch_size, 10), cardinality(files),
          headers);
  INSERT INTO postbox.mailbox (queue, type, execution_id, org, payload, headers)
  VALUES ('orchestrator', 'execute_workflow', new_id, NULLIF(org, ''),
          jsonb_build_object('org', COALESCE(org, ''), 'workflow', workflow,
                             'execution_id', new_id, 'files', to_jsonb(files),
                             'blob_ids', '[]'::jsonb, 'batch_size', COALESCE(batch_size, 0)),
          headers);
  RETURN new_id;
END $$;

-- Never reads the elements of a non-array (CASE keeps the order of evaluation).
CREATE OR REPLACE FUNCTION postbox.is_string_array(v jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN jsonb_typeof(v) = 'array'
              THEN NOT EXISTS (SELECT 1 FROM jsonb_array_elements(v) e
                               WHERE jsonb_typeof(e) <> 'string')
              ELSE false END
$$;
