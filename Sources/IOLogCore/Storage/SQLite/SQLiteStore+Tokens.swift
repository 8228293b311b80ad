/// Tokens and browser sessions.
extension SQLiteStore {
    /// Appends `audit` to the trail of every account `userID` belongs to, so the admins of each
    /// account see a token that can read it; once without an account when there is none (or
    /// for tokens of no user). An event that names its account already (an ingest token's) goes
    /// to that trail alone.
    static func appendForUser(_ audit: AuditEvent, userID: String?, to db: Database) throws {
        guard audit.accountID == nil else { return try append(audit, to: db) }
        let accounts =
            try userID.map { user in
                try db.query("SELECT account_id FROM memberships WHERE user_id = ? ORDER BY account_id", user) { $0.text(0) }
            } ?? []
        guard !accounts.isEmpty else { return try append(audit, to: db) }
        for account in accounts {
            var event = audit
            event.accountID = account
            try append(event, to: db)
        }
    }

    public func insertToken(_ token: TokenRecord, secretSHA256: [UInt8], audit: AuditEvent) async throws {
        try await writer.write { db in
            try db.execute(
                """
                INSERT INTO tokens (id, kind, user_id, label, created_at, revoked_at, secret_sha256, created_by, account_id)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                token.id,
                token.kind.rawValue,
                token.userID,
                token.label,
                token.createdAt.micros,
                token.revokedAt?.micros,
                secretSHA256,
                token.createdBy,
                token.accountID
            )
            try Self.appendForUser(audit, userID: token.userID, to: db)
        }
    }

    public func tokenCredential(id: String) async throws -> (token: TokenRecord, secretSHA256: [UInt8])? {
        try await reader.read { db in
            try db.queryFirst("SELECT \(RowMapping.tokenColumns) FROM tokens WHERE id = ?", id) { row in
                (RowMapping.token(row), row.blob(6))
            }
        }
    }

    public func tokens() async throws -> [TokenRecord] {
        try await reader.read { db in
            try db.query("SELECT \(RowMapping.tokenColumns) FROM tokens ORDER BY created_at DESC, id") { RowMapping.token($0) }
        }
    }

    public func revokeToken(id: String, at time: Timestamp, audit: AuditEvent) async throws -> Bool {
        try await writer.write { db in
            let revoked = try db.execute("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", time.micros, id) > 0
            // Browser sessions opened with the token end with it, in the same transaction.
            try db.execute("DELETE FROM sessions WHERE token_id = ?", id)
            if revoked {
                let owner = try db.queryFirst("SELECT user_id, account_id FROM tokens WHERE id = ?", id) {
                    ($0.optionalText(0), $0.optionalText(1))
                }
                var audit = audit
                audit.accountID = owner?.1
                try Self.appendForUser(audit, userID: owner?.0, to: db)
            }
            return revoked
        }
    }

    public func insertSession(_ session: SessionRecord, secretSHA256: [UInt8]) async throws {
        try await writer.write { db in
            // Expired sessions are dropped whenever a new one starts, so the table stays small.
            try db.execute("DELETE FROM sessions WHERE expires_at <= ?", session.createdAt.micros)
            try db.execute(
                "INSERT INTO sessions (secret_sha256, token_id, user_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                secretSHA256,
                session.tokenID,
                session.userID,
                session.createdAt.micros,
                session.expiresAt.micros
            )
        }
    }

    public func session(secretSHA256: [UInt8], at time: Timestamp) async throws -> SessionRecord? {
        try await reader.read { db in
            try db.queryFirst(
                """
                SELECT s.token_id, s.user_id, s.created_at, s.expires_at FROM sessions s
                JOIN tokens t ON t.id = s.token_id
                WHERE s.secret_sha256 = ? AND s.expires_at > ? AND t.revoked_at IS NULL
                """,
                secretSHA256,
                time.micros
            ) { row in
                SessionRecord(
                    tokenID: row.text(0),
                    userID: row.text(1),
                    createdAt: Timestamp(micros: row.int64(2)),
                    expiresAt: Timestamp(micros: row.int64(3))
                )
            }
        }
    }

    public func deleteSession(secretSHA256: [UInt8]) async throws {
        try await writer.write { db in _ = try db.execute("DELETE FROM sessions WHERE secret_sha256 = ?", secretSHA256) }
    }
}
