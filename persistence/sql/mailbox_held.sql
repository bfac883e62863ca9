-- Is delivery ($1, $2) still in the mailbox under this receipt? (No lock taken.)
SELECT 1 FROM postbox.mailbox WHERE id = $1 AND receipt = $2
