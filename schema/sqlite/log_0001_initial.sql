-- The log database: who may see what, and the sealed generations themselves.
-- Times are INTEGER microseconds since 1970-01-01 UTC, so they sort and compare exactly.
-- Bodies are AES-256-GCM envelopes (see docs/ARCHITECTURE.md); no plaintext body has a column.

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('personal', 'organization')),
    name TEXT,
    io_logging_enabled INTEGER NOT NULL DEFAULT 0 CHECK (io_logging_enabled IN (0, 1)),
    io_logging_enabled_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE memberships (
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, user_id)
) STRICT, WITHOUT ROWID;

-- "Which accounts does this user belong to?" (the account picker).
CREATE INDEX memberships_by_user ON memberships (user_id, account_id);

-- A token is shown once; only the SHA-256 of its secret part is kept.
CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('gateway', 'platform', 'user')),
    user_id TEXT,
    secret_sha256 BLOB NOT NULL CHECK (length(secret_sha256) = 32),
    label TEXT,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    CHECK ((kind = 'user') = (user_id IS NOT NULL))
) STRICT;

-- Generation ids are unique across accounts: the gateway mints them.
CREATE TABLE generations (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created_at INTEGER NOT NULL,
    stored_at INTEGER NOT NULL,
    user_id TEXT,
    api_key_id TEXT,
    model TEXT NOT NULL,
    provider TEXT NOT NULL,
    region TEXT NOT NULL,
    prompt_tokens INTEGER CHECK (prompt_tokens >= 0),
    completion_tokens INTEGER CHECK (completion_tokens >= 0),
    cost_usd REAL CHECK (cost_usd >= 0),
    latency_ms INTEGER CHECK (latency_ms >= 0),
    finish_reason TEXT,
    streamed INTEGER CHECK (streamed IN (0, 1)),
    -- HMAC of the canonical content under a key derived from the account's data key:
    -- recognises a gateway retry without keeping a plain digest of the prompt.
    content_mac BLOB NOT NULL,
    prompt_sealed BLOB NOT NULL,
    completion_sealed BLOB NOT NULL,
    reasoning_sealed BLOB
) STRICT;

-- The list query: one account, newest first, keyset on (created_at, id).
CREATE INDEX generations_by_time ON generations (account_id, created_at DESC, id DESC);
-- The same order under each equality filter the Logs page offers.
CREATE INDEX generations_by_model ON generations (account_id, model, created_at DESC, id DESC);
CREATE INDEX generations_by_provider ON generations (account_id, provider, created_at DESC, id DESC);
CREATE INDEX generations_by_user ON generations (account_id, user_id, created_at DESC, id DESC);
-- Retention purges by age across accounts.
CREATE INDEX generations_by_age ON generations (created_at);

-- Append-only; each row carries the SHA-256 of the previous row's hash and its own fields.
-- Ids and counts only, never content.
CREATE TABLE audit_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    occurred_at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    account_id TEXT,
    target TEXT,
    detail TEXT,
    previous_hash BLOB NOT NULL,
    hash BLOB NOT NULL
) STRICT;

CREATE INDEX audit_events_by_account ON audit_events (account_id, seq DESC);
