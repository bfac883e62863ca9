-- A turn's ctx.send_after, with its ack: message ($4 queue, '' with an actor: its type's)
-- to send $2 ms after now(), fired by consumers of queue $1 (the turn's).
INSERT INTO postbox.timers (fire_queue, due_at, queue, type, payload, headers, execution_id,
                            org, actor_type, actor_key, set_by_type, set_by_key)
VALUES ($1, now() + $2::bigint * interval '1 millisecond', $3, $4, $5::jsonb, $6::jsonb,
        $7, $8, $9, $10, $11, $12)
