-- Replies older than the retention ($1 milliseconds); a client fetches a reply
-- by request id until then.
DELETE FROM postbox.replies WHERE created_at < now() - $1::bigint * interval '1 millisecond'
