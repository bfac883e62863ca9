-- 027: two seams of issue 23 closed.
--
-- 1. Aging under limits. Aging (migration 024) measures how long a message has been ready
--    by its visible_at, and claim_limited moves a throttled message's visible_at to its
--    next token (or slot) time: each claim that throttled a low message made it young
--    again, so under a saturated rate a low message never aged and starved. ready_at
--    keeps when a throttled message first became ready: claim_limited sets it when it
--    sends a message to wait (coalesce: a second wait keeps the first) and clears it when
--    it leases the message; nothing else writes it, so the plain path pays nothing. The
--    aging sweep reads the waiting rows through their own partial index, one range per
--    queue and tier, oldest ready first; the ready rows stay one range of
--    mailbox_claim_idx per tier.
--
-- 2. A schedule tick's dedup key `name@tick` (026) is reserved: a user's send whose key
--    has a tick's form (anything, '@', a UTC time written as the ticks write it) would
--    otherwise hold the key of a tick not yet fired and make that tick a duplicate (sent
--    nothing, guarantee 12). One trigger refuses such a key on every insert (the SQL API,
--    the nodes' sends and batches, fan_out children, continuations, programs, the CLI),
--    unless the message is that tick: its headers name the schedule and the tick (as
--    schedule_fire_tick writes them, and a dead letter's retry keeps them). The C++ and
--    program paths refuse the form early with the same words (include/postbox/dedup.hpp).

ALTER TABLE postbox.mailbox ADD COLUMN ready_at timestamptz;
CREATE INDEX mailbox_wait_age_idx ON postbox.mailbox (queue, priority, ready_at)
  WHERE limit_wait IS NOT NULL;

CREATE FUNCTION postbox.is_tick_dedup_key(k text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT k ~ '.@[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$'
$$;

CREATE FUNCTION postbox.mailbox_tick_key_check() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF postbox.is_tick_dedup_key(NEW.dedup_key)
     AND NEW.dedup_key IS DISTINCT FROM
         left(NEW.headers->>'schedule', 450) || '@' || (NEW.headers->>'tick') THEN
    RAISE EXCEPTION 'postbox: dedup key ''%'' has the form of a schedule tick''s key '
                    '(name@YYYY-MM-DDTHH:MM:SS.sssZ), which is reserved for schedule ticks',
                    NEW.dedup_key USING ERRCODE = '22023';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER mailbox_tick_key BEFORE INSERT ON postbox.mailbox
  FOR EACH ROW WHEN (NEW.dedup_key IS NOT NULL) EXECUTE FUNCTION postbox.mailbox_tick_key_check();

-- claim_limited sets ready_at on its two waits and clears it on the lease: its body is
-- restated once, with migration 028's changes, there.
