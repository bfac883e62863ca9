-- A node declares topology schedule $1 (cron $2, zone $3, target $4, on_missed $5,
-- overlap $6, catch-up window $7 ms): created, or updated without moving its next tick
-- unless cron or zone changed (restarts never delay or skip a tick).
INSERT INTO postbox.schedules AS s (name, cron, timezone, target, on_missed, overlap,
                                    catch_up_window, defined_by, seen_at)
VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7::bigint * interval '1 millisecond', 'topology', now())
ON CONFLICT (name) DO UPDATE
   SET cron = EXCLUDED.cron, timezone = EXCLUDED.timezone, target = EXCLUDED.target,
       on_missed = EXCLUDED.on_missed, overlap = EXCLUDED.overlap,
       catch_up_window = EXCLUDED.catch_up_window, defined_by = 'topology', seen_at = now(),
       next_tick = CASE WHEN s.cron = EXCLUDED.cron AND s.timezone = EXCLUDED.timezone
                        THEN s.next_tick END,
       error = CASE WHEN s.cron = EXCLUDED.cron AND s.timezone = EXCLUDED.timezone
                         AND s.target = EXCLUDED.target THEN s.error END,
       updated_at = CASE WHEN (s.cron, s.timezone, s.target, s.on_missed, s.overlap,
                               s.catch_up_window, s.defined_by)
                              IS DISTINCT FROM (EXCLUDED.cron, EXCLUDED.timezone,
                                                EXCLUDED.target, EXCLUDED.on_missed,
                                                EXCLUDED.overlap, EXCLUDED.catch_up_window,
                                                'topology')
                         THEN now() ELSE s.updated_at END
