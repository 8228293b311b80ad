-- Which data key versions were destroyed (crypto-shredding), without any key material: so a
-- fresh key after an erasure gets a new version number and the receipt can name what went.
CREATE TABLE destroyed_keys (
    account_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    destroyed_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, version)
) STRICT, WITHOUT ROWID;
