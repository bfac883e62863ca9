-- 003: attempts are charged to their culprit (guarantee 8). read_ct still counts
-- every read; `attempts` counts only what the message itself caused: a handler
-- failure, a run past max_handler_time, or a crash of its node while it ran
-- alone. A delivery whose lease ran out without an ack or nack (abandoned: its
-- node crashed or froze) becomes a `suspect` and is run alone from then on;
-- `alone_on` names the node incarnation (name:pid:start) that runs it alone, so
-- its abandonment is charged — unless that same incarnation reads it again: then
-- the node is alive and only lost its lease (a database outage), not crashed.
ALTER TABLE postbox.mailbox ADD COLUMN attempts integer NOT NULL DEFAULT 0;
ALTER TABLE postbox.mailbox ADD COLUMN suspect boolean NOT NULL DEFAULT false;
ALTER TABLE postbox.mailbox ADD COLUMN alone_on text;
ALTER TABLE postbox.dead_letters ADD COLUMN attempts integer NOT NULL DEFAULT 0;

-- The message types each node's registry handles (written when it registers): a
-- node that claims a message of a type it has no handler for gives it back when
-- another node handles that type, and dead-letters it only when none does.
ALTER TABLE postbox.nodes ADD COLUMN handled_types text[] NOT NULL DEFAULT '{}';
