-- Operator: the blocked head of actor ($1, $2) runs again, its attempts forgiven
-- (postbox.actor_retry, migration 019). NULL: the actor is not blocked.
SELECT postbox.actor_retry($1, $2)
