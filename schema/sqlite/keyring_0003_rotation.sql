-- Key rotation (issue 12).
-- Which master key wrapped each data key, by the key's id (derived from the key, never the key),
-- and how many seals (random GCM nonces) were handed out under each data key, so an account's
-- key is replaced after a bounded number of seals however many processes share the keyring.
ALTER TABLE data_keys ADD COLUMN master_key_id TEXT;
ALTER TABLE data_keys ADD COLUMN seals INTEGER NOT NULL DEFAULT 0 CHECK (seals >= 0);

-- The master key the keyring is under, and during a rotation the key it is moving to (with a
-- check value sealed by that key, so a process given only the new key can verify it).
ALTER TABLE master_key_check ADD COLUMN key_id TEXT;
ALTER TABLE master_key_check ADD COLUMN next_key_id TEXT;
ALTER TABLE master_key_check ADD COLUMN next_sealed BLOB;

-- Keys from before seals were counted may have sealed any number of bodies: count them as
-- full (2^32, NIST SP 800-38D's bound), so each is replaced for new writes at its first use
-- and stays for reading.
UPDATE data_keys SET seals = 4294967296;
