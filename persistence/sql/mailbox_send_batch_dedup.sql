-- N messages, some with a dedup key, in one round trip (parallel arrays as in
-- mailbox_send_batch.sql, then $10 keys (NULL: none), $11 modes, $12 ttls in ms). One
-- insert per element, in input order (ids ascend with it, as an actor's order needs),
-- each against the unique index: an element whose key an earlier element of the batch
-- (or a live message) holds inserts nothing and gets that message's id, duplicate = true.
-- Used only when some element has a key; a batch without keys is mailbox_send_batch.sql.
SELECT r.sent_id, r.is_duplicate
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[],
            $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[], $13::text[],
            $14::smallint[])
     WITH ORDINALITY AS u(q, t, e, o, p, h, d, at, ak, k, m, ttl, lk, pr, n)
     CROSS JOIN LATERAL postbox.mailbox_insert_dedup(u.q, u.t, u.e, u.o, u.p::jsonb, u.h::jsonb,
                                                     u.d, u.at, u.ak, u.k, u.m, u.ttl,
                                                     u.lk, u.pr) AS r
ORDER BY u.n
