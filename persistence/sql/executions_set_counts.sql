-- Absolute counts (recomputed from file_results, so re-running is harmless).
UPDATE postbox.executions
SET files_done = $2, files_failed = $3, updated_at = now()
WHERE id = $1
