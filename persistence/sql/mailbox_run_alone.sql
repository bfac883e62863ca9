-- A suspect is about to run with nothing beside it on its node: if its node
-- dies now, the crash is its own (charged at the next read).
UPDATE postbox.mailbox SET running_alone = true WHERE id = $1 AND receipt = $2
