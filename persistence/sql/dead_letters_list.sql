SELECT id, message_id, queue, type, COALESCE(execution_id, ''), read_ct, reason,
       extract(epoch FROM dead_at)::float8, COALESCE(retried_as, 0), attempts
FROM postbox.dead_letters
ORDER BY dead_at DESC, id DESC
LIMIT $1
