-- Fires up to $2 due reminders and timers of queue $1 (postbox.fire_due, migration 020),
-- each with its message in this transaction; how many messages it sent.
SELECT postbox.fire_due($1, $2)
