-- N messages in one round trip: parallel arrays, one element per message.
INSERT INTO postbox.mailbox (queue, type, execution_id, org, payload, headers, visible_at)
SELECT q, t, e, o, p::jsonb, h::jsonb, now() + d * interval '1 millisecond'
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[])
     WITH ORDINALITY AS u(q, t, e, o, p, h, d, n)
ORDER BY n
RETURNING id
