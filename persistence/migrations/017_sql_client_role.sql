-- 017: the SQL API enforces its checks. postbox.send, postbox.submit and postbox.cancel
-- run with their owner's rights (SECURITY DEFINER) and a fixed search_path (every
-- table and helper in their bodies is schema-qualified; built-ins come from
-- pg_catalog, and pg_temp last so no temporary object can stand in for one). A
-- caller needs EXECUTE on them, and nothing on the tables: the role postbox_client
-- has exactly that, so a role granted it can enqueue, submit and cancel through the
-- checks and cannot write the mailbox (or any table) directly.
--
-- Roles belong to the cluster, not the database: postbox_client is created once and
-- shared by every database of the cluster (several migrating at once is fine). A
-- migrating role without CREATEROLE skips the creation with a warning; create the
-- role (CREATE ROLE postbox_client NOLOGIN) and the grants below apply when it exists
-- at migration time (else re-run them by hand: see README, "SQL API").
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'postbox_client') THEN
    BEGIN
      CREATE ROLE postbox_client NOLOGIN;
    EXCEPTION
      WHEN duplicate_object OR unique_violation THEN
        NULL;  -- another database of the cluster created it meanwhile
      WHEN insufficient_privilege THEN
        RAISE WARNING 'postbox: cannot create role postbox_client (needs CREATEROLE): '
                      'the SQL API is not granted to it';
    END;
  END IF;
END $$;

ALTER FUNCTION postbox.send(text, text, jsonb, jsonb, text, text, interval)
  SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION postbox.submit(text, text[], integer, text, jsonb)
  SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION postbox.cancel(text)
  SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

REVOKE EXECUTE ON FUNCTION postbox.send(text, text, jsonb, jsonb, text, text, interval),
                           postbox.submit(text, text[], integer, text, jsonb),
                           postbox.cancel(text)
  FROM PUBLIC;

DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'postbox_client') THEN
    GRANT USAGE ON SCHEMA postbox TO postbox_client;
    GRANT EXECUTE ON FUNCTION postbox.send(text, text, jsonb, jsonb, text, text, interval),
                              postbox.submit(text, text[], integer, text, jsonb),
                              postbox.cancel(text)
      TO postbox_client;
  END IF;
END $$;
