-- At most $2 file results of the executions $1 (text[]).
DELETE FROM postbox.file_results f
USING (SELECT execution_id, file_key FROM postbox.file_results
       WHERE execution_id = ANY($1::text[]) LIMIT $2) doomed
WHERE f.execution_id = doomed.execution_id AND f.file_key = doomed.file_key
