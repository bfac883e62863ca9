-- Gives leadership $1 up: the row stays (expired at once), so the next holder's
-- term is higher than this one's and an old leader can always be told apart.
UPDATE postbox.leader_leases SET expires_at = now() - interval '1 millisecond'
WHERE name = $1 AND holder = $2
