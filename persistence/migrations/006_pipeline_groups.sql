-- 006: the file pipeline runs on the public runtime API. An execution's batches are
-- the children of a group whose id is the execution's, and the execution callback is
-- that group's stored callback. Executions in flight across the upgrade move over:
-- their pending batches get their place in the group (and lose on_success: the
-- execution's continuations fire from its callback), and their unfired barriers get
-- their children (the pending batch messages; 0 for batches that already arrived)
-- and their callback. Running this again changes nothing.
UPDATE postbox.mailbox m
SET headers = (m.headers - 'on_success')
              || jsonb_build_object('group', jsonb_build_object(
                   'id', m.execution_id, 'index', (m.payload->>'batch_index')::int))
WHERE m.type = 'process_file_batch' AND m.execution_id IS NOT NULL
  AND NOT (m.headers ? 'group')
  AND (m.payload->>'batch_index') ~ '^[0-9]{1,9}$'
  AND EXISTS (SELECT 1 FROM postbox.barriers b
              WHERE b.group_id = m.execution_id AND b.fired_at IS NULL
                AND b.child_ids IS NULL AND b.callback IS NULL);

UPDATE postbox.barriers b
SET child_ids = (SELECT array_agg(COALESCE(
                          (SELECT min(m.id) FROM postbox.mailbox m
                           WHERE m.type = 'process_file_batch' AND m.execution_id = b.group_id
                             AND CASE WHEN (m.headers->'group'->>'index') ~ '^[0-9]{1,9}$'
                                      THEN (m.headers->'group'->>'index')::int END = i),
                          0) ORDER BY i)
                 FROM generate_series(0, b.expected - 1) AS i),
    callback = jsonb_build_object(
                 'queue', 'callback', 'type', 'execution_callback',
                 'execution_id', b.group_id, 'org', e.org,
                 'payload', jsonb_build_object('execution_id', b.group_id),
                 'headers', e.headers - 'group')
FROM postbox.executions e
WHERE e.id = b.group_id AND b.fired_at IS NULL AND b.child_ids IS NULL AND b.callback IS NULL;
