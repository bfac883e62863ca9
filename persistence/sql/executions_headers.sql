-- $1 execution_id: the continuations the execution keeps (as submitted).
SELECT headers::text FROM postbox.executions WHERE id = $1
