-- Registers node $1 for process $6, incarnation $9 (host $2, ports $3 $4, roles $5, the
-- message types its registry handles $8) unless a live
-- process holds the name: an existing row is taken over only when its heartbeat is
-- older than $7 ms. Atomic: of two processes starting at once, one wins. Returns
-- whether this call registered, and the holder seen before it (pid, host, age).
WITH registered AS (
  INSERT INTO postbox.nodes AS n (name, host, control_port, http_port, roles, pid, handled_types,
                                  incarnation)
  VALUES ($1, $2, $3, $4, $5::text[], $6, $8::text[], NULLIF($9, ''))
  ON CONFLICT (name) DO UPDATE
  SET host = EXCLUDED.host, control_port = EXCLUDED.control_port,
      http_port = EXCLUDED.http_port, roles = EXCLUDED.roles, pid = EXCLUDED.pid,
      handled_types = EXCLUDED.handled_types, incarnation = EXCLUDED.incarnation,
      heartbeat_at = now(), started_at = now()
  WHERE n.heartbeat_at < now() - $7::bigint * interval '1 millisecond'
  RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM registered), COALESCE(held.pid, 0), COALESCE(held.host, ''),
       COALESCE(extract(epoch FROM now() - held.heartbeat_at)::float8, 0)
FROM (SELECT 1) AS one
LEFT JOIN postbox.nodes held ON held.name = $1
