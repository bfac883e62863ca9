-- Records tick $2 (epoch ms) of schedule $1 as not sent: outcome $3, $4 ticks skipped.
INSERT INTO postbox.schedule_ticks (name, tick, outcome, missed)
VALUES ($1, timestamptz 'epoch' + $2::bigint * interval '1 millisecond', $3, $4::integer)
