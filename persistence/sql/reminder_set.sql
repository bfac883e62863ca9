-- A turn's ctx.remind, with its ack: sets reminder $3 of actor $1/$2 (queue $4), due at
-- epoch ms $5 when $6, else $5 ms after now(); period $7 ms (0: once); missed policy $8.
-- Setting it again gives it a new generation, so a tick already sent is not run.
INSERT INTO postbox.reminders AS r (actor_type, actor_key, name, queue, due_at, period,
                                    on_missed)
VALUES ($1, $2, $3, $4,
        CASE WHEN $6::boolean THEN timestamptz 'epoch' + $5::bigint * interval '1 millisecond'
             ELSE now() + $5::bigint * interval '1 millisecond' END,
        NULLIF($7::bigint, 0) * interval '1 millisecond', $8)
ON CONFLICT (actor_type, actor_key, name) DO UPDATE
SET queue = EXCLUDED.queue, due_at = EXCLUDED.due_at, period = EXCLUDED.period,
    on_missed = EXCLUDED.on_missed, generation = nextval('postbox.reminder_generation_seq'),
    fired = 0, fired_id = NULL, updated_at = now()
RETURNING r.generation
