-- Dead letters of queue $1 not yet retried, oldest first, at most $2: what a bulk
-- retry re-enqueues (each through dead_letters_retry.sql, in one transaction).
SELECT id FROM postbox.dead_letters
WHERE queue = $1 AND retried_at IS NULL
ORDER BY id
LIMIT $2
FOR UPDATE
