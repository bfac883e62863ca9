-- What `postbox send` checks a type against, as the consumers' orphan sweep judges it
-- (mailbox_read.sql): the types that the nodes named $2 (the topology's; NULL: every
-- registered node) handle on queue $1, sorted and one per line; how many of those
-- names have no nodes row yet (a node never started may handle anything); and how
-- many of them are registered.
SELECT COALESCE((SELECT string_agg(DISTINCT substr(h, length($1) + 2), E'\n'
                                   ORDER BY substr(h, length($1) + 2))
                 FROM postbox.nodes n CROSS JOIN LATERAL unnest(n.handled_types) AS h
                 WHERE ($2::text[] IS NULL OR n.name = ANY ($2::text[]))
                   AND left(h, length($1) + 1) = $1 || ':'), '') AS types,
       (SELECT count(*) FROM unnest($2::text[]) AS t(name)
        WHERE NOT EXISTS (SELECT 1 FROM postbox.nodes n WHERE n.name = t.name)) AS unregistered,
       (SELECT count(*) FROM postbox.nodes n
        WHERE $2::text[] IS NULL OR n.name = ANY ($2::text[])) AS registered
