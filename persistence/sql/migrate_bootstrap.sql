CREATE SCHEMA IF NOT EXISTS postbox;
CREATE TABLE IF NOT EXISTS postbox.schema_migrations (
  version    integer PRIMARY KEY,
  name       text        NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);
