-- The bookkeeping table of applied migrations, one per schema (iolog, iolog_keyring),
-- created before the first migration of that schema. :schema is replaced by the schema name.
CREATE SCHEMA IF NOT EXISTS :schema;
CREATE TABLE IF NOT EXISTS :schema.schema_migrations (
    version bigint PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
