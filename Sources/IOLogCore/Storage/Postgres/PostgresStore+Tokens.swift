/// Tokens and browser sessions.
extension PostgresStore {
    public func insertToken(_ token: TokenRecord, secretSHA256: [UInt8], audit: AuditEvent) async throws {
        try await pool.transaction { c in
            try c.run(
                """
                INSERT INTO tokens (id, kind, user_id, label, created_at, revoked_at, secret_sha256, created_by, account_id)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
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
            try Self.appendForUser(audit, userID: token.userID, in: c)
        }
    }

    public func tokenCredential(id: String) async throws -> (token: TokenRecord, secretSHA256: [UInt8])? {
        try await pool.withConnection { c in
            try c.run("SELECT \(RowMapping.tokenColumns) FROM tokens WHERE id = $1", id).first.map { (RowMapping.token($0), $0.blob(6)) }
        }
    }

    public func tokens() async throws -> [TokenRecord] {
        try await pool.withConnection { c in
            try c.run("SELECT \(RowMapping.tokenColumns) FROM tokens ORDER BY created_at DESC, id").rows.map(RowMapping.token)
        }
    }

    public func revokeToken(id: String, at time: Timestamp, audit: AuditEvent) async throws -> Bool {
        try await pool.transaction { c in
            let revoked = try c.run("UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL", time.micros, id).affectedRows > 0
            try c.run("DELETE FROM sessions WHERE token_id = $1", id)
            if revoked {
                let owner = try c.run("SELECT user_id, account_id FROM tokens WHERE id = $1", id).first
                var audit = audit
                audit.accountID = owner?.optionalText(1)
                try Self.appendForUser(audit, userID: owner?.optionalText(0), in: c)
            }
            return revoked
        }
    }

    public func insertSession(_ session: SessionRecord, secretSHA256: [UInt8]) async throws {
        try await pool.transaction { c in
            try c.run("DELETE FROM sessions WHERE expires_at <= $1", session.createdAt.micros)
            try c.run(
                "INSERT INTO sessions (secret_sha256, token_id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
                secretSHA256,
                session.tokenID,
                session.userID,
                session.createdAt.micros,
                session.expiresAt.micros
            )
        }
    }

    public func session(secretSHA256: [UInt8], at time: Timestamp) async throws -> SessionRecord? {
        try await pool.withConnection { c in
            try c.run(
                """
                SELECT s.token_id, s.user_id, s.created_at, s.expires_at FROM sessions s
                JOIN tokens t ON t.id = s.token_id
                WHERE s.secret_sha256 = $1 AND s.expires_at > $2 AND t.revoked_at IS NULL
                """,
                secretSHA256,
                time.micros
            ).first.map { row in
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
        try await pool.withConnection { c in _ = try c.run("DELETE FROM sessions WHERE secret_sha256 = $1", secretSHA256) }
    }
}
