-- $1 execution id. The fence shared, then whether the execution is STOPPED, read after
-- the fence was granted (postbox.fence_stopped, migration 016): taken by a handler's
-- write_now / checkpoint of a message of the execution before it writes, so nothing of a
-- cancelled execution commits after the cancel.
SELECT postbox.fence_stopped($1, false)
