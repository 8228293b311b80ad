-- Account ingest tokens: a token of kind 'ingest' may ingest for its one account only.
-- SQLite cannot change a CHECK constraint in place, so `tokens` is rebuilt with the new kind
-- and the `account_id` it needs. `sessions` references `tokens` with ON DELETE CASCADE, so it
-- is set aside first (dropping `tokens` under it would delete every browser session) and put
-- back after; nothing else references `tokens`.
CREATE TEMP TABLE sessions_kept AS SELECT secret_sha256, token_id, user_id, created_at, expires_at FROM sessions;
DROP TABLE sessions;

CREATE TABLE tokens_rebuilt (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('gateway', 'platform', 'user', 'ingest')),
    user_id TEXT,
    secret_sha256 BLOB NOT NULL CHECK (length(secret_sha256) = 32),
    label TEXT,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    created_by TEXT,
    -- The one account an ingest token may ingest for.
    account_id TEXT REFERENCES accounts (id),
    CHECK ((kind = 'user') = (user_id IS NOT NULL)),
    CHECK ((kind = 'ingest') = (account_id IS NOT NULL))
) STRICT;
INSERT INTO tokens_rebuilt (id, kind, user_id, secret_sha256, label, created_at, revoked_at, created_by)
    SELECT id, kind, user_id, secret_sha256, label, created_at, revoked_at, created_by FROM tokens;
DROP TABLE tokens;
ALTER TABLE tokens_rebuilt RENAME TO tokens;
CREATE INDEX tokens_by_account ON tokens (account_id) WHERE account_id IS NOT NULL;

CREATE TABLE sessions (
    secret_sha256 BLOB PRIMARY KEY CHECK (length(secret_sha256) = 32),
    token_id TEXT NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
INSERT INTO sessions SELECT secret_sha256, token_id, user_id, created_at, expires_at FROM sessions_kept;
DROP TABLE sessions_kept;
CREATE INDEX sessions_by_token ON sessions (token_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
