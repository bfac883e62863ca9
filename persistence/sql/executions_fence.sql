-- $1 execution id. Taken (exclusive, until commit) by every transaction that makes the
-- execution terminal, before it counts the execution's results: it waits for every
-- transaction still recording results (postbox.fence_stopped, shared), and one that
-- starts recording later waits for it and then sees the terminal status. A counter of
-- results never misses one that commits after it, and nothing is recorded once the
-- status is final (guarantee 9). An advisory lock: no row lock, no multixact on the
-- execution's row, whatever the number of batches in flight. The two-key form, with
-- postbox's own class (0x70627801), keeps clear of single-key advisory locks.
SELECT pg_advisory_xact_lock(1885501441, hashtext($1))
