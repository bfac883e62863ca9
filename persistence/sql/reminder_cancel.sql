-- A turn's ctx.cancel_reminder, with its ack: reminder $3 of actor $1/$2 is gone (a tick
-- already sent finds no row when its turn comes, and is not run).
DELETE FROM postbox.reminders WHERE actor_type = $1 AND actor_key = $2 AND name = $3
