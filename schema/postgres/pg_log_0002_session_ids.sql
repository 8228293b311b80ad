-- The session (conversation, agent run) a generation belongs to: an id like the user's, shown
-- and filtered on like it. Partial index: rows without a session cost ingest no index entry.
ALTER TABLE iolog.generations ADD COLUMN session_id text;
CREATE INDEX generations_by_session ON iolog.generations (account_id, session_id, created_at DESC, id DESC)
    WHERE session_id IS NOT NULL;
