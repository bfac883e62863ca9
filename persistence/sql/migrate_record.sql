INSERT INTO postbox.schema_migrations (version, name) VALUES ($1, $2)
