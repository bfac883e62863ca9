-- Every schedule with its state, for `postbox schedules`, /metrics and the dashboard
-- (times: epoch ms, NULL when unset). stale: a topology schedule no live node declares
-- within $1 ms (not fired).
SELECT name, cron, timezone, target::text,
       (extract(epoch FROM next_tick) * 1000)::bigint,
       (extract(epoch FROM last_tick) * 1000)::bigint,
       paused, on_missed, overlap, defined_by,
       (defined_by = 'topology' AND (seen_at IS NULL
                                     OR seen_at <= now() - $1::bigint * interval '1 millisecond')),
       COALESCE(error, ''), sent, skipped, missed
  FROM postbox.schedules
 ORDER BY name
