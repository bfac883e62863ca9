-- Moves schedule $1 on, if its next tick is still $2 (the CAS; NULL: not computed):
-- next tick $3, last tick $4 (NULL: unchanged), last message $5, and the counts.
UPDATE postbox.schedules
   SET next_tick = timestamptz 'epoch' + $3::bigint * interval '1 millisecond',
       last_tick = COALESCE(timestamptz 'epoch' + $4::bigint * interval '1 millisecond', last_tick),
       last_message_id = COALESCE($5::bigint, last_message_id),
       sent = sent + $6::bigint, skipped = skipped + $7::bigint, missed = missed + $8::bigint,
       updated_at = now()
 WHERE name = $1
   AND next_tick IS NOT DISTINCT FROM timestamptz 'epoch' + $2::bigint * interval '1 millisecond'
