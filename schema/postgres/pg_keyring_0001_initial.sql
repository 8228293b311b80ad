-- The keyring in schema `iolog_keyring`, apart from the log data: `pg_dump --schema=iolog`
-- holds no key material, and the schema can belong to a role of its own (SECURITY.md).
CREATE TABLE iolog_keyring.data_keys (
    account_id text NOT NULL,
    version bigint NOT NULL CHECK (version >= 1),
    wrapped bytea NOT NULL,
    created_at bigint NOT NULL,
    PRIMARY KEY (account_id, version)
);

CREATE TABLE iolog_keyring.master_key_check (
    id bigint PRIMARY KEY CHECK (id = 1),
    sealed bytea NOT NULL,
    created_at bigint NOT NULL
);

CREATE TABLE iolog_keyring.destroyed_keys (
    account_id text NOT NULL,
    version bigint NOT NULL,
    destroyed_at bigint NOT NULL,
    PRIMARY KEY (account_id, version)
);
