SELECT version FROM postbox.schema_migrations ORDER BY version
