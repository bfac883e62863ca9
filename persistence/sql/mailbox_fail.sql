-- A failed attempt, charged to the message: visible again after $3 ms with the
-- reason $4; attempts + 1; the old receipt dies. The delivery ended with its node
-- alive, so a suspect is one no more. (mailbox_nack gives a delivery back without
-- charging it: a drain, a lost connection.)
UPDATE postbox.mailbox
SET visible_at = now() + $3::bigint * interval '1 millisecond',
    receipt = NULL, lease_owner = NULL, alone_on = NULL, suspect = false,
    attempts = attempts + 1, last_error = $4
WHERE id = $1 AND receipt = $2
RETURNING attempts
