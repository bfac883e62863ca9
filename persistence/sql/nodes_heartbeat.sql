-- Registers node $1 (or refreshes its heartbeat) for process $6, incarnation $7 (the
-- one a suspect it runs alone names). A new pid means a restart: started_at moves.
INSERT INTO postbox.nodes AS n (name, host, control_port, http_port, roles, pid, incarnation)
VALUES ($1, $2, $3, $4, $5::text[], $6, NULLIF($7, ''))
ON CONFLICT (name) DO UPDATE
SET host = EXCLUDED.host, control_port = EXCLUDED.control_port, http_port = EXCLUDED.http_port,
    roles = EXCLUDED.roles, heartbeat_at = now(),
    started_at = CASE WHEN n.pid IS DISTINCT FROM EXCLUDED.pid THEN now() ELSE n.started_at END,
    pid = EXCLUDED.pid, incarnation = EXCLUDED.incarnation
