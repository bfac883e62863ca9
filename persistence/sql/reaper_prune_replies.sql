-- At most $2 replies older than the retention ($1 milliseconds); a client fetches a
-- reply by request id until then.
DELETE FROM postbox.replies
WHERE reply_key IN (SELECT reply_key FROM postbox.replies
                    WHERE created_at < now() - $1::bigint * interval '1 millisecond' LIMIT $2)
