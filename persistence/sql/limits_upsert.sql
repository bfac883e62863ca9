-- $1 scope ('queue' or 'key'), $2 key, $3 max_in_flight, $4 rate (per second), $5 burst
-- (NULL: none). The topology's limit, written at node start; a changed rate or burst
-- starts its token shards afresh, an unchanged one keeps them (trigger limits_tokens_sync).
INSERT INTO postbox.limits (scope, key, max_in_flight, rate, burst)
VALUES ($1, $2, $3::int, $4::float8, $5::int)
ON CONFLICT (scope, key) DO UPDATE
SET max_in_flight = EXCLUDED.max_in_flight, rate = EXCLUDED.rate, burst = EXCLUDED.burst,
    updated_at = now()
