-- The keyring: each account's data keys, stored only wrapped by the master key
-- (AES-256-GCM, associated data binding the account id and key version).
-- It lives in its own file so a backup of the log database alone decrypts nothing.

CREATE TABLE data_keys (
    account_id TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    wrapped BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, version)
) STRICT, WITHOUT ROWID;

-- One row: a known value sealed with the master key, so a wrong master key is
-- reported at start-up instead of as a failure to open the first body.
CREATE TABLE master_key_check (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    sealed BLOB NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
