-- $1 queue, $2 type, $3 execution_id, $4 org, $5 payload, $6 headers, $7 delay ms
INSERT INTO postbox.mailbox (queue, type, execution_id, org, payload, headers, visible_at)
VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, now() + $7::bigint * interval '1 millisecond')
RETURNING id
