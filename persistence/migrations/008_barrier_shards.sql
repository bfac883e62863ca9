-- 008: a large group counts its arrivals on shards, not on one row. Every child of a
-- group used to decrement barriers.remaining, so the arrivals of one group queued for
-- that row's lock, which each holds through its commit (its WAL flush): one group could
-- take no more arrivals per second than the disk takes flushes one after another.
-- A group armed with shards > 0 keeps one counter per shard (child index mod shards) in
-- barrier_shards, with that shard's child message ids in child order; barriers.remaining
-- then counts the shards still open, and only the arrival that closes a shard touches
-- the group's row (the one that closes the last shard fires the group, as before).
-- Groups armed before this migration, and small ones, keep shards = 0 and count on
-- barriers.remaining as before.
ALTER TABLE postbox.barriers ADD COLUMN shards integer NOT NULL DEFAULT 0 CHECK (shards >= 0);

CREATE TABLE postbox.barrier_shards (
  group_id  text    NOT NULL REFERENCES postbox.barriers (group_id) ON DELETE CASCADE,
  shard     integer NOT NULL,
  expected  integer NOT NULL,
  remaining integer NOT NULL,
  child_ids bigint[] NOT NULL,
  PRIMARY KEY (group_id, shard)
);

-- An arrival no longer takes a share lock on its group's row through a foreign key:
-- each one did (FOR KEY SHARE), so the concurrent arrivals of one group turned that row
-- into a multixact rewritten by every arrival. barrier_arrive.sql inserts an arrival
-- only for an armed group (it selects from the group's row), which is all the key
-- checked. Nothing deletes groups today; whatever prunes them later must delete a
-- group's arrivals (and shards) with it, or a reused group id would find them.
DO $$
DECLARE fk text;
BEGIN
  FOR fk IN SELECT conname FROM pg_constraint
            WHERE conrelid = 'postbox.barrier_arrivals'::regclass AND contype = 'f' LOOP
    EXECUTE format('ALTER TABLE postbox.barrier_arrivals DROP CONSTRAINT %I', fk);
  END LOOP;
END $$;
