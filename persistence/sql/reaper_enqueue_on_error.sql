-- The on_error continuations of executions $1 (text[]) just ended (by the stranded sweep,
-- or a poison whose message did not carry it): the caller's payload plus execution_id,
-- status and error, outside the execution (migration 016).
SELECT postbox.enqueue_on_error($1::text[])
