-- Retention: up to $2 idle actors (no state, backlog, block or reminder) unchanged for
-- $1 ms are deleted (postbox.actor_retire_idle, migration 020); how many.
SELECT postbox.actor_retire_idle($1::bigint * interval '1 millisecond', $2)
