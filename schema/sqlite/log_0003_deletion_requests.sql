-- Owners' deletion requests (DESIGN §2 rule 6, §6) and their receipts. Ids and counts only:
-- a request never holds content. Counters are advanced in the same transaction as the rows
-- they count, so an interrupted run resumes with an exact receipt.
CREATE TABLE deletion_requests (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    requested_by TEXT NOT NULL,            -- the admin user who asked
    filed_by TEXT NOT NULL,                -- who recorded it: cli:<user> or the admin's token
    ticket TEXT NOT NULL,
    scope TEXT NOT NULL CHECK (scope IN ('account', 'generations', 'before')),
    scope_generation_ids TEXT,             -- JSON array, for scope = generations
    scope_before INTEGER,                  -- microseconds, for scope = before
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed')),
    created_at INTEGER NOT NULL,
    run_by TEXT,
    started_at INTEGER,
    keys_destroyed_at INTEGER,             -- whole-account runs: when the data keys were destroyed
    finished_at INTEGER,
    rows_erased INTEGER NOT NULL DEFAULT 0,
    keys_destroyed INTEGER NOT NULL DEFAULT 0,
    failure TEXT,
    CHECK ((scope = 'generations') = (scope_generation_ids IS NOT NULL)),
    CHECK ((scope = 'before') = (scope_before IS NOT NULL))
) STRICT;

CREATE INDEX deletion_requests_by_status ON deletion_requests (status, created_at);
CREATE INDEX deletion_requests_by_account ON deletion_requests (account_id, created_at DESC);
