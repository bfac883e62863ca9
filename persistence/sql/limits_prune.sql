-- $1 scopes, $2 keys (text[] each): the topology's limits. Every other limit (and its
-- slots) is removed: the topology is the truth, the last node started wins.
DELETE FROM postbox.limits l
WHERE NOT EXISTS (SELECT 1 FROM unnest($1::text[], $2::text[]) AS t(scope, key)
                  WHERE t.scope = l.scope AND t.key = l.key)
