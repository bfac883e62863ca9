-- $1 group_id. Every child's outcome, in child order, as one JSON array:
-- {"index": i, "status": "ok", "result": ...} or {"index": i, "status": "error", "error": "..."}.
-- Read by the firing arrival's transaction, which has just written the last one.
SELECT COALESCE(json_agg(
         CASE WHEN status = 'ok'
              THEN json_build_object('index', child_index, 'status', status, 'result', result)
              ELSE json_build_object('index', child_index, 'status', status, 'error', error)
         END ORDER BY child_index), '[]'::json)::text
FROM postbox.barrier_arrivals WHERE group_id = $1
