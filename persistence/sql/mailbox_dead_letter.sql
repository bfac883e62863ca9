-- Moves the whole row (identity, payload, headers) to dead_letters with the reason.
WITH moved AS (
  DELETE FROM postbox.mailbox WHERE id = $1 AND receipt = $2 RETURNING *
)
INSERT INTO postbox.dead_letters (message_id, queue, type, execution_id, org, payload, headers,
                                  enqueued_at, read_ct, attempts, last_error, reason, dead_by)
SELECT id, queue, type, execution_id, org, payload, headers, enqueued_at, read_ct, attempts,
       last_error, $3, lease_owner
FROM moved
RETURNING id
