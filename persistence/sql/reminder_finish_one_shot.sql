-- With the ack of a one-shot reminder's turn: the fired one-shot of generation $4 is
-- done (set again meanwhile, it has another generation and stays).
DELETE FROM postbox.reminders
WHERE actor_type = $1 AND actor_key = $2 AND name = $3 AND generation = $4 AND period IS NULL
