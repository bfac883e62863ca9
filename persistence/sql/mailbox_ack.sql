-- The effect is recorded: the message leaves the mailbox (only under its receipt).
DELETE FROM postbox.mailbox WHERE id = $1 AND receipt = $2
