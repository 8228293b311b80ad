-- The bookkeeping table every database (log and keyring) gets before its first migration:
-- one row per applied migration, so start-up applies only the newer ones.
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
) STRICT;
