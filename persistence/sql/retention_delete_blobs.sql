-- At most $2 uploaded blobs of the executions $1 (text[]).
DELETE FROM postbox.blobs
WHERE id IN (SELECT id FROM postbox.blobs WHERE execution_id = ANY($1::text[]) LIMIT $2)
