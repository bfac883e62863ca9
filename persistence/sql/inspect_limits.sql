-- The limits (migration 025) for postbox queues, /metrics and the dashboard: scope
-- ('queue' or 'key'), key, max_in_flight (0: none), rate per second (0: none), burst,
-- slots in use (held under a lease that has not ended), messages throttled (waiting
-- for a token) and waiting for a slot. A few rows; the waiting counts read the partial
-- mailbox_limit_wait_idx.
SELECT l.scope, l.key, COALESCE(l.max_in_flight, 0), COALESCE(l.rate, 0)::float8,
       COALESCE(l.burst, 0),
       (SELECT count(*) FROM postbox.limit_slots s
        WHERE s.scope = l.scope AND s.key = l.key AND s.message_id IS NOT NULL
          AND s.lease_until > now()),
       (SELECT count(*) FROM postbox.mailbox m
        WHERE m.limit_wait = 'rate' AND m.visible_at > now()
          AND (CASE WHEN l.scope = 'queue' THEN m.queue = l.key ELSE m.limit_key = l.key END)),
       (SELECT count(*) FROM postbox.mailbox m
        WHERE m.limit_wait = 'slot' AND m.visible_at > now()
          AND (CASE WHEN l.scope = 'queue' THEN m.queue = l.key ELSE m.limit_key = l.key END))
FROM postbox.limits l
WHERE l.max_in_flight IS NOT NULL OR l.rate IS NOT NULL  -- (a removed one drains: 028)
ORDER BY 1, 2
