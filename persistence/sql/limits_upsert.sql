-- $1 scope ('queue' or 'key'), $2 key, $3 max_in_flight, $4 rate (per second), $5 burst
-- (NULL: none). The topology's limit, written at node start; a changed rate or burst
-- starts its token bucket afresh, an unchanged one keeps it (tat).
INSERT INTO postbox.limits (scope, key, max_in_flight, rate, burst)
VALUES ($1, $2, $3::int, $4::float8, $5::int)
ON CONFLICT (scope, key) DO UPDATE
SET max_in_flight = EXCLUDED.max_in_flight, rate = EXCLUDED.rate, burst = EXCLUDED.burst,
    tat = CASE WHEN postbox.limits.rate IS NOT DISTINCT FROM EXCLUDED.rate
                    AND postbox.limits.burst IS NOT DISTINCT FROM EXCLUDED.burst
               THEN postbox.limits.tat ELSE '-infinity' END,
    updated_at = now()
