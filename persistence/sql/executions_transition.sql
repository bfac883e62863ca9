-- Compare-and-set: moves execution $1 from one of the statuses $2 to $3 (with
-- error $4, kept if NULL). Returns a row only when this call made the change.
UPDATE postbox.executions
SET status = $3,
    error = COALESCE($4, error),
    updated_at = now(),
    started_at = CASE WHEN $3 = 'EXECUTING' THEN COALESCE(started_at, now()) ELSE started_at END,
    finished_at = CASE WHEN $3 IN ('COMPLETED', 'ERROR', 'STOPPED') THEN now() ELSE finished_at END
WHERE id = $1 AND status = ANY ($2::text[])
RETURNING status
