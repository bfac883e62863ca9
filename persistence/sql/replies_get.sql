-- $1 reply key, $2 the request's message id (0: unknown). Always one row: the stored
-- reply, if any, and the request message still in the mailbox, if any. One
-- statement sees one snapshot, so "no reply and no message" means the request was
-- handled without a reply (or never sent, or pruned): a reply and its ack (or dead
-- letter) commit together.
SELECT r.status, r.body::text, r.error, r.message_id,
       COALESCE((SELECT m.id FROM postbox.mailbox m WHERE $2::bigint > 0 AND m.id = $2::bigint),
                (SELECT m.id FROM postbox.mailbox m
                 WHERE $2::bigint = 0 AND m.headers ? 'reply_key'
                   AND m.headers->>'reply_key' = $1::text
                 ORDER BY m.id LIMIT 1)) AS waiting
FROM (SELECT 1) AS one
LEFT JOIN postbox.replies r ON r.reply_key = $1::text
