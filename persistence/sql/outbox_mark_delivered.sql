UPDATE postbox.outbox SET state = 'delivered', delivered_at = now(), last_error = NULL
WHERE id = $1 AND attempts = $2 AND state = 'pending'
