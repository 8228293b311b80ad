-- Browser sessions of the Logs pages. The cookie holds 256 random bits; only their SHA-256
-- is stored, so a copy of this table cannot be replayed as a cookie. A session belongs to the
-- user token it was opened with: revoking the token deletes its sessions (and the lookup
-- also refuses a session whose token is revoked).
CREATE TABLE sessions (
    secret_sha256 BLOB PRIMARY KEY CHECK (length(secret_sha256) = 32),
    token_id TEXT NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX sessions_by_token ON sessions (token_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
