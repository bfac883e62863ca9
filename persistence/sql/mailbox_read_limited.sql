-- The claim of a queue under limits (migration 025, postbox.claim_limited): as
-- mailbox_read.sql without its orphan sweep, each candidate admitted through its
-- queue's and its limit key's rate (first) and max_in_flight slots.
-- $1 queue, $2 max, $3 lease ms, $4 owner, $5 incarnation, $6 types (text[] or NULL),
-- $7 alive-within ms.
SELECT * FROM postbox.claim_limited($1, $2::int, $3::bigint, $4, $5, $6::text[], $7::bigint)
