-- 002: an execution keeps the headers it was submitted with (on_success / on_error
-- continuations), so whoever ends it — also the reaper, when no message is left —
-- can still send its on_error.
ALTER TABLE postbox.executions ADD COLUMN headers jsonb NOT NULL DEFAULT '{}'::jsonb;
