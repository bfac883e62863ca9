-- When nothing is due (schedules_due.sql found no row): in how many ms the earliest
-- schedule that could fire next is due, by the database's clock (NULL: none), so the
-- firer sleeps until then (at most a second: a schedule made meanwhile in SQL) instead of
-- polling every 200 ms. $1 as in schedules_due.sql. A row another node holds counts.
-- (Negative: overdue, e.g. held by another node's firing.)
SELECT (extract(epoch FROM min(s.next_tick) - postbox.clock_now()) * 1000)::bigint
  FROM postbox.schedules s
 WHERE NOT s.paused AND s.error IS NULL
   AND (s.defined_by = 'sql' OR s.seen_at > now() - $1::bigint * interval '1 millisecond')
