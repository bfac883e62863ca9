-- One extra run of schedule $1 now (postbox.clock_now()), recorded as 'triggered';
-- its message id (no row: no such schedule). The regular ticks are not moved.
SELECT postbox.schedule_fire_tick(s.name, postbox.clock_now(), 0, false, 'triggered')
  FROM postbox.schedules s
 WHERE s.name = $1
