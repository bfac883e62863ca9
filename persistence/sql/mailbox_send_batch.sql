-- N messages in one round trip: parallel arrays, one element per message (actor type
-- and key NULL for a message to no actor; see mailbox_send.sql). $10 limit keys, $11
-- priorities (NULL: the type's default, else 1).
INSERT INTO postbox.mailbox (queue, type, execution_id, org, payload, headers, visible_at,
                             actor_type, actor_key, limit_key, priority)
SELECT q, t, e, o, p::jsonb, h::jsonb, now() + d * interval '1 millisecond', at, ak, lk,
       COALESCE(pr, (SELECT tp.priority FROM postbox.type_priorities tp WHERE tp.type = t), 1)
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[],
            $8::text[], $9::text[], $10::text[], $11::smallint[])
     WITH ORDINALITY AS u(q, t, e, o, p, h, d, at, ak, lk, pr, n)
ORDER BY n
RETURNING id
