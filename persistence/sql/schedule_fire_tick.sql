-- Sends tick $2 (epoch ms) of schedule $1 and records it (outcome $5, $3 missed ticks
-- folded in, $4 backfilled); the message id. The (name, tick) key refuses a second.
SELECT postbox.schedule_fire_tick($1, timestamptz 'epoch' + $2::bigint * interval '1 millisecond',
                                  $3::integer, $4::boolean, $5)
