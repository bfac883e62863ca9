-- Serialises concurrent migrators (nodes starting together); released at COMMIT.
SELECT pg_advisory_xact_lock(hashtext('postbox.migrate'))
