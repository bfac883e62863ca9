-- $1 group_id. The barrier read FOR SHARE by the callback's transaction: an
-- arrival that would fire it waits until that transaction ends, so "fired" cannot
-- change between this check and the callback's CAS.
SELECT expected, remaining, fired_at IS NOT NULL
FROM postbox.barriers WHERE group_id = $1
FOR SHARE
