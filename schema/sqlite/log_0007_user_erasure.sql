-- End-user erasure: a deletion request of scope 'user' erases every generation of one end user
-- of the account. SQLite cannot change a CHECK constraint in place, so `deletion_requests` is
-- rebuilt with the new scope and its `scope_user_id` (keeping each row's rowid, which orders
-- requests filed in the same microsecond). Nothing references it.
CREATE TABLE deletion_requests_rebuilt (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    requested_by TEXT NOT NULL,
    filed_by TEXT NOT NULL,
    ticket TEXT NOT NULL,
    scope TEXT NOT NULL CHECK (scope IN ('account', 'generations', 'before', 'user')),
    scope_generation_ids TEXT,
    scope_before INTEGER,
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed')),
    created_at INTEGER NOT NULL,
    run_by TEXT,
    started_at INTEGER,
    keys_destroyed_at INTEGER,
    finished_at INTEGER,
    rows_erased INTEGER NOT NULL DEFAULT 0,
    keys_destroyed INTEGER NOT NULL DEFAULT 0,
    failure TEXT,
    scope_user_id TEXT,                    -- for scope = user: the end user's id
    CHECK ((scope = 'generations') = (scope_generation_ids IS NOT NULL)),
    CHECK ((scope = 'before') = (scope_before IS NOT NULL)),
    CHECK ((scope = 'user') = (scope_user_id IS NOT NULL))
) STRICT;
INSERT INTO deletion_requests_rebuilt (rowid, id, account_id, requested_by, filed_by, ticket, scope, scope_generation_ids,
    scope_before, status, created_at, run_by, started_at, keys_destroyed_at, finished_at, rows_erased, keys_destroyed, failure)
    SELECT rowid, id, account_id, requested_by, filed_by, ticket, scope, scope_generation_ids, scope_before, status, created_at,
        run_by, started_at, keys_destroyed_at, finished_at, rows_erased, keys_destroyed, failure
    FROM deletion_requests;
DROP TABLE deletion_requests;
ALTER TABLE deletion_requests_rebuilt RENAME TO deletion_requests;
CREATE INDEX deletion_requests_by_status ON deletion_requests (status, created_at);
CREATE INDEX deletion_requests_by_account ON deletion_requests (account_id, created_at DESC);

-- The erasure boundary of each erased end user: a generation of that user created before it is
-- never stored again (skipped as `before_opt_in`), like an account's `erased_before`.
CREATE TABLE erased_users (
    account_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    erased_before INTEGER NOT NULL,
    request_id TEXT NOT NULL,
    PRIMARY KEY (account_id, user_id)
) STRICT, WITHOUT ROWID;
