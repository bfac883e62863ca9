-- $1 execution_id, $2 an on_error continuation (jsonb). True when it is the
-- execution's own on_error (the one its messages carry for it).
SELECT (headers->'on_error') IS NOT DISTINCT FROM $2::jsonb
FROM postbox.executions WHERE id = $1
