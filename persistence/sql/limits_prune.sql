-- $1 scopes, $2 keys (text[] each): the topology's limits; the topology is the truth,
-- the last node started wins. Every other limit stops limiting at once: its
-- max_in_flight, rate and burst become NULL (its token shards go, trigger
-- limits_tokens_sync). Its row and slots stay while messages hold them (migration 028):
-- a limit added again meanwhile (a node started with an older topology, as in a rolling
-- restart) still sees its held slots and admits nothing beside them. One found so at a
-- later start with no slot held under a live lease is deleted, with its slots.
WITH gone AS (
  SELECT l.scope, l.key,
         l.max_in_flight IS NULL AND l.rate IS NULL
         AND NOT EXISTS (SELECT 1 FROM postbox.limit_slots s
                         WHERE s.scope = l.scope AND s.key = l.key AND s.message_id IS NOT NULL
                           AND s.lease_until > now()) AS drained
  FROM postbox.limits l
  WHERE NOT EXISTS (SELECT 1 FROM unnest($1::text[], $2::text[]) AS t(scope, key)
                    WHERE t.scope = l.scope AND t.key = l.key)
), deleted AS (
  DELETE FROM postbox.limits l USING gone g
  WHERE g.drained AND l.scope = g.scope AND l.key = g.key
)
UPDATE postbox.limits l
SET max_in_flight = NULL, rate = NULL, burst = NULL, updated_at = now()
FROM gone g
WHERE NOT g.drained AND l.scope = g.scope AND l.key = g.key
  AND (l.max_in_flight IS NOT NULL OR l.rate IS NOT NULL)
