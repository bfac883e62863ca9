-- A node of the topology ($2, its node names), live or not, that handles type
-- $1 ("queue:type") on that queue: a message of it is given back for that node
-- rather than dead-lettered. A node no longer in the topology counts for nothing.
SELECT name FROM postbox.nodes
WHERE $1 = ANY (handled_types) AND name = ANY ($2::text[])
ORDER BY heartbeat_at DESC LIMIT 1
