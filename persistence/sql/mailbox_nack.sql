-- Gives a delivery back uncharged (a drain, a lost connection): visible again
-- after $3 ms; the old receipt dies. A suspect that ran alone (alone_on set) and
-- ended with its node alive is one no more; one given back before it ran stays one.
UPDATE postbox.mailbox
SET visible_at = now() + $3::bigint * interval '1 millisecond',
    receipt = NULL, lease_owner = NULL, alone_on = NULL, last_error = $4,
    suspect = suspect AND alone_on IS NULL
WHERE id = $1 AND receipt = $2
