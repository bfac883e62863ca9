-- Locks one due schedule (never waiting on a row another node holds) with the
-- database's clock: a paused or broken one is not due, nor a topology schedule no live
-- node declared within $1 ms (removed from every topology). Times are epoch ms.
SELECT s.name, s.cron, s.timezone,
       (extract(epoch FROM s.next_tick) * 1000)::bigint AS next_tick,
       s.on_missed, s.overlap,
       (extract(epoch FROM s.catch_up_window) * 1000)::bigint AS catch_up_window,
       (s.overlap = 'skip' AND s.last_message_id IS NOT NULL
        AND EXISTS (SELECT 1 FROM postbox.mailbox m WHERE m.id = s.last_message_id))
         AS previous_live,
       (extract(epoch FROM postbox.clock_now()) * 1000)::bigint AS db_now
  FROM postbox.schedules s
 WHERE NOT s.paused AND s.error IS NULL
   AND (s.next_tick IS NULL OR s.next_tick <= postbox.clock_now())
   AND (s.defined_by = 'sql' OR s.seen_at > now() - $1::bigint * interval '1 millisecond')
 ORDER BY s.next_tick NULLS FIRST
 LIMIT 1
   FOR UPDATE OF s SKIP LOCKED
