SELECT id, message_id, queue, type, COALESCE(execution_id, ''), COALESCE(org, ''),
       payload::text, headers::text, read_ct, COALESCE(last_error, ''), reason,
       extract(epoch FROM enqueued_at)::float8, extract(epoch FROM dead_at)::float8,
       COALESCE(dead_by, ''), COALESCE(retried_as, 0), attempts
FROM postbox.dead_letters WHERE id = $1
