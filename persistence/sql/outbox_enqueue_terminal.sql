-- The terminal notification of execution $1: one webhook and one usage record per
-- execution, built from its row by postbox.enqueue_terminal (migration 016, shared with
-- postbox.cancel); a second call is a no-op.
SELECT postbox.enqueue_terminal($1)
