-- The live message that holds dead letter $1's dedup key (none: no row): why its retry
-- sent nothing (dead_letters_retry.sql).
SELECT m.id, d.dedup_key
FROM postbox.dead_letters d
JOIN postbox.mailbox m ON m.queue = d.queue AND m.dedup_key = d.dedup_key
WHERE d.id = $1 AND d.retried_at IS NULL
