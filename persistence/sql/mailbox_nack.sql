-- Gives a delivery back uncharged (a drain, a lost connection): visible again
-- after $3 ms; the old receipt dies.
UPDATE postbox.mailbox
SET visible_at = now() + $3::bigint * interval '1 millisecond',
    receipt = NULL, lease_owner = NULL, alone_on = NULL, last_error = $4
WHERE id = $1 AND receipt = $2
