-- The current generation of reminder $3 of actor $1/$2 (no row: cancelled).
SELECT generation FROM postbox.reminders
WHERE actor_type = $1 AND actor_key = $2 AND name = $3
