-- Groups of no execution (a handler's own fan_out) that fired more than $1 milliseconds
-- ago, at most $2. An open group is never picked: its callback has yet to fire. Nor one
-- whose callback is still queued or dead-lettered (it may still read the group's results
-- in pages, context::group_results).
SELECT b.group_id FROM postbox.barriers b
WHERE b.execution_id IS NULL AND b.fired_at IS NOT NULL
  AND b.fired_at < now() - $1::bigint * interval '1 millisecond'
  AND NOT EXISTS (SELECT 1 FROM postbox.mailbox m WHERE m.id = b.callback_message_id)
  AND NOT EXISTS (SELECT 1 FROM postbox.dead_letters d WHERE d.message_id = b.callback_message_id)
ORDER BY b.fired_at
LIMIT $2
