-- 005: a group knows its children. The ids of the messages a fan_out enqueued are
-- stored with its barrier, and only those messages arrive there: a message whose
-- headers merely name a group (forged, or sent by hand) counts for nothing.
-- Barriers armed before (the pipeline's, child_ids NULL) keep the old rule.
ALTER TABLE postbox.barriers ADD COLUMN child_ids bigint[];

-- Consumers claim only the types their node handles: this index serves
-- `queue = $1 AND type = ANY($6) AND visible_at <= now()` without scanning the
-- backlog of types another node handles.
CREATE INDEX mailbox_type_claim_idx ON postbox.mailbox (queue, type, visible_at, id);
