-- Account ingest tokens: a token of kind 'ingest' may ingest for its one account only.
ALTER TABLE iolog.tokens ADD COLUMN account_id text REFERENCES iolog.accounts (id);
ALTER TABLE iolog.tokens DROP CONSTRAINT tokens_kind_check;
ALTER TABLE iolog.tokens ADD CONSTRAINT tokens_kind_check CHECK (kind IN ('gateway', 'platform', 'user', 'ingest'));
ALTER TABLE iolog.tokens ADD CONSTRAINT tokens_ingest_account_check CHECK ((kind = 'ingest') = (account_id IS NOT NULL));
CREATE INDEX tokens_by_account ON iolog.tokens (account_id) WHERE account_id IS NOT NULL;
