-- At most $3 arrivals of the groups $1 (text[]) and of the fired groups of the
-- executions $2 (text[]): an open group keeps its arrivals (retention_pick_executions.sql
-- skips an execution with one; a group armed since is left alone).
DELETE FROM postbox.barrier_arrivals a
USING (SELECT a2.group_id, a2.child_index FROM postbox.barrier_arrivals a2
       WHERE a2.group_id IN (SELECT group_id FROM postbox.barriers WHERE execution_id = ANY($2::text[]) AND fired_at IS NOT NULL
                             UNION ALL SELECT unnest($1::text[]))
       LIMIT $3) doomed
WHERE a.group_id = doomed.group_id AND a.child_index = doomed.child_index
