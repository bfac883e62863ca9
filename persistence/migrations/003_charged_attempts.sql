-- 003: attempts are charged to their culprit (guarantee 8). read_ct still counts
-- every read; `attempts` counts only what the message itself caused: a handler
-- failure, a run past max_handler_time, or a crash of its node while it ran
-- alone. A delivery whose lease ran out without an ack or nack (abandoned: its
-- node crashed or froze) becomes a `suspect` and is run alone from then on;
-- `running_alone` marks the delivery that does, so its abandonment is charged.
ALTER TABLE postbox.mailbox ADD COLUMN attempts integer NOT NULL DEFAULT 0;
ALTER TABLE postbox.mailbox ADD COLUMN suspect boolean NOT NULL DEFAULT false;
ALTER TABLE postbox.mailbox ADD COLUMN running_alone boolean NOT NULL DEFAULT false;
ALTER TABLE postbox.dead_letters ADD COLUMN attempts integer NOT NULL DEFAULT 0;
