-- A suspect is about to run with nothing beside it on node incarnation $3: if
-- that node dies now, the crash is its own (charged at the next read).
UPDATE postbox.mailbox SET alone_on = $3 WHERE id = $1 AND receipt = $2
