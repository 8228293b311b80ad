-- End-user erasure: a deletion request of scope 'user' erases every generation of one end user.
ALTER TABLE iolog.deletion_requests ADD COLUMN scope_user_id text;
ALTER TABLE iolog.deletion_requests DROP CONSTRAINT deletion_requests_scope_check;
ALTER TABLE iolog.deletion_requests ADD CONSTRAINT deletion_requests_scope_check
    CHECK (scope IN ('account', 'generations', 'before', 'user'));
ALTER TABLE iolog.deletion_requests ADD CONSTRAINT deletion_requests_user_check CHECK ((scope = 'user') = (scope_user_id IS NOT NULL));

-- The erasure boundary of each erased end user (see the SQLite migration).
CREATE TABLE iolog.erased_users (
    account_id text NOT NULL,
    user_id text NOT NULL,
    erased_before bigint NOT NULL,
    request_id text NOT NULL,
    PRIMARY KEY (account_id, user_id)
);
