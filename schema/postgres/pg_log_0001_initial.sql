-- The log data in schema `iolog`: the same tables and meaning as SQLite's log_0001…0004,
-- with generations partitioned by month of created_at (microseconds since the epoch, UTC).
-- Times are bigint microseconds, as on SQLite, so both engines share one model.

CREATE TABLE iolog.accounts (
    id text PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('personal', 'organization')),
    name text,
    io_logging_enabled bigint NOT NULL DEFAULT 0 CHECK (io_logging_enabled IN (0, 1)),
    io_logging_enabled_at bigint,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    -- Generations created before this moment are never stored (an erasure ran).
    erased_before bigint
);

CREATE TABLE iolog.memberships (
    account_id text NOT NULL REFERENCES iolog.accounts (id) ON DELETE CASCADE,
    user_id text NOT NULL,
    role text NOT NULL CHECK (role IN ('admin', 'member')),
    updated_at bigint NOT NULL,
    PRIMARY KEY (account_id, user_id)
);
CREATE INDEX memberships_by_user ON iolog.memberships (user_id, account_id);

CREATE TABLE iolog.tokens (
    id text PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('gateway', 'platform', 'user')),
    user_id text,
    secret_sha256 bytea NOT NULL CHECK (length(secret_sha256) = 32),
    label text,
    created_at bigint NOT NULL,
    revoked_at bigint,
    created_by text,
    CHECK ((kind = 'user') = (user_id IS NOT NULL))
);

-- Every stored id, across all months: PostgreSQL needs the partition key in a partitioned
-- table's unique constraints, so id uniqueness (gateway retries, the 409 rule) lives here,
-- written in the same transaction as the row.
CREATE TABLE iolog.generation_ids (
    id text PRIMARY KEY,
    account_id text NOT NULL,
    created_at bigint NOT NULL,
    content_mac bytea NOT NULL
);
CREATE INDEX generation_ids_by_age ON iolog.generation_ids (created_at);

CREATE TABLE iolog.generations (
    id text NOT NULL,
    account_id text NOT NULL,
    created_at bigint NOT NULL,
    stored_at bigint NOT NULL,
    user_id text,
    api_key_id text,
    model text NOT NULL,
    provider text NOT NULL,
    region text NOT NULL,
    prompt_tokens bigint CHECK (prompt_tokens >= 0),
    completion_tokens bigint CHECK (completion_tokens >= 0),
    cost_usd double precision CHECK (cost_usd >= 0),
    latency_ms bigint CHECK (latency_ms >= 0),
    finish_reason text,
    streamed bigint CHECK (streamed IN (0, 1)),
    content_mac bytea NOT NULL,
    prompt_sealed bytea NOT NULL,
    completion_sealed bytea NOT NULL,
    reasoning_sealed bytea,
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
-- Ciphertext does not compress; keep it out of TOAST compression attempts.
ALTER TABLE iolog.generations ALTER COLUMN prompt_sealed SET STORAGE EXTERNAL;
ALTER TABLE iolog.generations ALTER COLUMN completion_sealed SET STORAGE EXTERNAL;
ALTER TABLE iolog.generations ALTER COLUMN reasoning_sealed SET STORAGE EXTERNAL;
CREATE INDEX generations_by_time ON iolog.generations (account_id, created_at DESC, id DESC);
CREATE INDEX generations_by_model ON iolog.generations (account_id, model, created_at DESC, id DESC);
CREATE INDEX generations_by_provider ON iolog.generations (account_id, provider, created_at DESC, id DESC);
CREATE INDEX generations_by_user ON iolog.generations (account_id, user_id, created_at DESC, id DESC);
CREATE INDEX generations_by_age ON iolog.generations (created_at);

-- The chain head: one row, locked by every append, so appends from any number of
-- connections and replicas form one chain.
CREATE TABLE iolog.audit_head (
    id bigint PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL,
    hash bytea NOT NULL
);

CREATE TABLE iolog.audit_events (
    seq bigint PRIMARY KEY,
    occurred_at bigint NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    account_id text,
    target text,
    detail text,
    previous_hash bytea NOT NULL,
    hash bytea NOT NULL
);
CREATE INDEX audit_events_by_account ON iolog.audit_events (account_id, seq DESC);

CREATE TABLE iolog.sessions (
    secret_sha256 bytea PRIMARY KEY CHECK (length(secret_sha256) = 32),
    token_id text NOT NULL REFERENCES iolog.tokens (id) ON DELETE CASCADE,
    user_id text NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL
);
CREATE INDEX sessions_by_token ON iolog.sessions (token_id);
CREATE INDEX sessions_by_expiry ON iolog.sessions (expires_at);

CREATE TABLE iolog.deletion_requests (
    id text PRIMARY KEY,
    account_id text NOT NULL REFERENCES iolog.accounts (id),
    requested_by text NOT NULL,
    filed_by text NOT NULL,
    ticket text NOT NULL,
    scope text NOT NULL CHECK (scope IN ('account', 'generations', 'before')),
    scope_generation_ids text,
    scope_before bigint,
    status text NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed')),
    created_at bigint NOT NULL,
    run_by text,
    started_at bigint,
    keys_destroyed_at bigint,
    finished_at bigint,
    rows_erased bigint NOT NULL DEFAULT 0,
    keys_destroyed bigint NOT NULL DEFAULT 0,
    failure text,
    filed_seq bigserial,
    CHECK ((scope = 'generations') = (scope_generation_ids IS NOT NULL)),
    CHECK ((scope = 'before') = (scope_before IS NOT NULL))
);
CREATE INDEX deletion_requests_by_status ON iolog.deletion_requests (status, created_at);
CREATE INDEX deletion_requests_by_account ON iolog.deletion_requests (account_id, created_at DESC);

CREATE TABLE iolog.erased_generation_ids (
    account_id text NOT NULL,
    id text NOT NULL,
    request_id text NOT NULL,
    PRIMARY KEY (account_id, id)
);

CREATE TABLE iolog.settings (
    name text PRIMARY KEY,
    value text NOT NULL,
    updated_at bigint NOT NULL
);

-- Rows of months without a partition of their own (far ahead of the clock) land here.
CREATE TABLE iolog.generations_default PARTITION OF iolog.generations DEFAULT;

-- Creates the partition of one month (named generations_pYYYYMM by the caller) unless it
-- exists. The only DDL iolog runs after migrating, kept here with the rest of the schema.
CREATE FUNCTION iolog.create_month_partition(partition_name text, month_start bigint, month_end bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF partition_name !~ '^generations_p[0-9]{6}$' THEN
        RAISE EXCEPTION 'not a month partition name: %', partition_name;
    END IF;
    EXECUTE format(
        'CREATE TABLE IF NOT EXISTS iolog.%I PARTITION OF iolog.generations FOR VALUES FROM (%s) TO (%s)',
        partition_name, month_start, month_end
    );
END
$$;
