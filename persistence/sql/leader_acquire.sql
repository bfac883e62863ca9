-- Takes or renews leadership $1 for holder $2 for $3 ms. A row comes back only
-- when $2 is (now) the leader; the term grows each time the holder changes.
INSERT INTO postbox.leader_leases AS l (name, holder, term, expires_at)
VALUES ($1, $2, 1, now() + $3::bigint * interval '1 millisecond')
ON CONFLICT (name) DO UPDATE
SET holder = EXCLUDED.holder,
    term = CASE WHEN l.holder = EXCLUDED.holder THEN l.term ELSE l.term + 1 END,
    expires_at = EXCLUDED.expires_at
WHERE l.holder = EXCLUDED.holder OR l.expires_at < now()
RETURNING term
