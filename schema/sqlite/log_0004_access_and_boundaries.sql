-- Who minted each token, so an account's admins can tell a token minted on the server
-- (`cli:<user>`) from one of their own. Tokens made before this migration show no creator.
ALTER TABLE tokens ADD COLUMN created_by TEXT;

-- The time boundary of the account's erasures: a generation created before it is never stored
-- again (skipped as `before_opt_in`), so a late delivery cannot bring erased data back under a fresh key.
ALTER TABLE accounts ADD COLUMN erased_before INTEGER;

-- Generations erased by id (deletion requests of scope `generations`): a retry of one of them
-- by the gateway is never stored again. Ids only, like the request that lists them.
CREATE TABLE erased_generation_ids (
    account_id TEXT NOT NULL,
    id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    PRIMARY KEY (account_id, id)
) STRICT, WITHOUT ROWID;

-- Deployment settings that every process on this database must agree on, such as the
-- retention `serve` runs with (read by `iolog retention run`).
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
