-- Pauses ($2 true) or resumes ($2 false) schedule $1; a resumed one's next tick is
-- computed afresh from now (the paused time is not caught up). Rows changed.
UPDATE postbox.schedules
   SET paused = $2::boolean,
       next_tick = CASE WHEN $2::boolean OR NOT paused THEN next_tick END,
       updated_at = now()
 WHERE name = $1
