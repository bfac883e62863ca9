-- $1 group_id, $2 first child index, $3 at most this many. A page of a group's child
-- outcomes in child order (the callback of a group with paged results reads them so):
-- index, status ('ok' | 'error'), result (JSON text, NULL on error), error.
SELECT child_index, status, result::text, error
FROM postbox.barrier_arrivals
WHERE group_id = $1 AND child_index >= $2
ORDER BY child_index
LIMIT $3
