-- Heads for up to $2 woken keys of queue $1 that have none (postbox.actor_promote,
-- migration 019); never waits on a lock. How many heads it made.
SELECT postbox.actor_promote($1, $2)
