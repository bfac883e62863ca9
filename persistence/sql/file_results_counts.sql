-- $1 execution id: files done, files failed. A file of a dead-lettered (poisoned) batch
-- without a result counts as failed: the batch was one of the execution's own (its
-- group's child ids; a batch sent by hand and dropped as stray is not), so the counts
-- of an ERROR execution add up to files_total with those that never ran.
SELECT count(*) FILTER (WHERE r.status = 'done'),
       count(*) FILTER (WHERE r.status = 'failed') + (
         SELECT count(DISTINCT f.key)
         FROM postbox.dead_letters d
         CROSS JOIN jsonb_array_elements_text(
           CASE WHEN jsonb_typeof(d.payload->'files') = 'array' THEN d.payload->'files'
                ELSE '[]'::jsonb END) AS f(key)
         WHERE d.execution_id = $1 AND d.type = 'process_file_batch'
           AND d.message_id IN (
             SELECT unnest(b.child_ids) FROM postbox.barriers b WHERE b.group_id = $1
             UNION ALL
             SELECT unnest(sh.child_ids) FROM postbox.barrier_shards sh WHERE sh.group_id = $1)
           AND NOT EXISTS (SELECT 1 FROM postbox.file_results x
                           WHERE x.execution_id = $1 AND x.file_key = f.key))
FROM postbox.file_results r WHERE r.execution_id = $1
