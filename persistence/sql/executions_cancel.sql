-- $1 execution id. Cancels it (migration 012, postbox.cancel): the status afterwards
-- and whether this call stopped it. Raises P0002 for an unknown id.
SELECT status, cancelled FROM postbox.cancel($1)
