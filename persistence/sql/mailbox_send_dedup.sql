-- One message with a dedup key (migration 023): $1..$9 as in mailbox_send.sql, $10 the
-- dedup key, $11 its mode (until_done, ttl, replace), $12 the ttl in ms, $13 the limit key (NULL: none), $14 the priority (NULL: the type's default). Returns the id
-- sent, or the live message's that holds the key (duplicate: nothing was enqueued).
SELECT sent_id, is_duplicate
FROM postbox.mailbox_insert_dedup($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7::bigint, $8, $9, $10,
                                  $11, $12::bigint, $13,
                                  $14::smallint)
