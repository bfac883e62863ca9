-- Nodes with the age of their heartbeat and whether they hold the reaper's lease.
SELECT n.name, n.host, COALESCE(n.control_port, 0), COALESCE(n.http_port, 0),
       array_to_string(n.roles, ','), COALESCE(n.pid, 0),
       extract(epoch FROM now() - n.heartbeat_at)::float8 AS heartbeat_age_s,
       extract(epoch FROM n.started_at)::float8,
       EXISTS (SELECT 1 FROM postbox.leader_leases l
               WHERE l.name = 'reaper' AND l.holder = n.name AND l.expires_at > now()) AS leader
FROM postbox.nodes n
ORDER BY n.name
