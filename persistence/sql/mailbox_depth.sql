SELECT count(*) FROM postbox.mailbox WHERE queue = $1
