-- A node (live or not) whose registry handles message type $1, if any: a message of
-- that type is given back for it rather than dead-lettered.
SELECT name FROM postbox.nodes WHERE $1 = ANY (handled_types) ORDER BY heartbeat_at DESC LIMIT 1
