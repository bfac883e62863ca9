-- $1 names, $2 processors (text[]), $3 batch sizes (int[]), $4 the recording node. The
-- workflows of a node's topology, so postbox.submit (SQL) can refuse an unknown one.
INSERT INTO postbox.workflows (name, processor, batch_size, recorded_by)
SELECT w.name, w.processor, w.batch_size, $4
FROM unnest($1::text[], $2::text[], $3::int[]) AS w(name, processor, batch_size)
ON CONFLICT (name) DO UPDATE
SET processor = EXCLUDED.processor, batch_size = EXCLUDED.batch_size,
    recorded_by = EXCLUDED.recorded_by, recorded_at = now()
