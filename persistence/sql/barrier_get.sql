-- $1 group_id: expected, children still expected, fired, the callback it enqueued.
SELECT expected,
       CASE WHEN shards > 0
            THEN (SELECT COALESCE(sum(remaining), 0)::int FROM postbox.barrier_shards
                  WHERE group_id = $1)
            ELSE remaining END,
       fired_at IS NOT NULL, callback_message_id
FROM postbox.barriers WHERE group_id = $1
