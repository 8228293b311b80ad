/// Accounts, memberships and the logging setting.
extension PostgresStore {
    static func account(id: String, in c: PostgresConnection) throws -> Account? {
        try c.run("SELECT \(RowMapping.accountColumns) FROM accounts a WHERE a.id = $1", id).first.map(RowMapping.account)
    }

    public func setIOLogging(accountID: String, enabled: Bool, at time: Timestamp, audit: AuditEvent?) async throws -> IOLoggingSetting {
        try await pool.transaction { c in
            let changed = try c.run(
                """
                UPDATE accounts SET
                    io_logging_enabled_at = CASE WHEN $1 = 1 AND io_logging_enabled = 0 THEN $2 ELSE io_logging_enabled_at END,
                    io_logging_enabled = $1,
                    updated_at = $2
                WHERE id = $3
                """,
                enabled,
                time.micros,
                accountID
            ).affectedRows
            guard changed == 1, let account = try Self.account(id: accountID, in: c) else {
                throw IOLogError.notFound("no account \(accountID)")
            }
            if let audit { try Self.append(audit, in: c) }
            return account.ioLogging
        }
    }

    public func upsertAccount(id: String, kind: AccountKind, name: String?, at time: Timestamp, audit: AuditEvent) async throws -> Account {
        try await pool.transaction { c in
            let before = try Self.account(id: id, in: c)
            try c.run(
                """
                INSERT INTO accounts (id, kind, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
                ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, name = excluded.name, updated_at = excluded.updated_at
                """,
                id,
                kind.rawValue,
                name,
                time.micros
            )
            guard let account = try Self.account(id: id, in: c) else {
                throw IOLogError.notFound("account \(id) vanished while being written")
            }
            if before?.kind != account.kind || before?.name != account.name || before == nil {
                try Self.append(audit, in: c)
            }
            return account
        }
    }

    public func account(id: String) async throws -> Account? {
        try await pool.withConnection { c in try Self.account(id: id, in: c) }
    }

    static func role(accountID: String, userID: String, in c: PostgresConnection) throws -> Role? {
        try c.run("SELECT role FROM memberships WHERE account_id = $1 AND user_id = $2", accountID, userID).first
            .flatMap { Role(rawValue: $0.text(0)) }
    }

    public func role(accountID: String, userID: String) async throws -> Role? {
        try await pool.withConnection { c in try Self.role(accountID: accountID, userID: userID, in: c) }
    }

    public func setMembership(accountID: String, userID: String, role: Role, at time: Timestamp, audit: AuditEvent) async throws {
        try await pool.transaction { c in
            guard try c.run("SELECT 1 FROM accounts WHERE id = $1 FOR SHARE", accountID).first != nil else {
                throw IOLogError.notFound("no account \(accountID)")
            }
            let before = try Self.role(accountID: accountID, userID: userID, in: c)
            guard before != role else { return }
            try c.run(
                """
                INSERT INTO memberships (account_id, user_id, role, updated_at) VALUES ($1, $2, $3, $4)
                ON CONFLICT (account_id, user_id) DO UPDATE SET role = excluded.role, updated_at = excluded.updated_at
                """,
                accountID,
                userID,
                role.rawValue,
                time.micros
            )
            try Self.append(audit, in: c)
            guard role == .admin else { return }
            let tokens = try c.run(
                "SELECT id FROM tokens WHERE kind = 'user' AND user_id = $1 AND revoked_at IS NULL ORDER BY created_at, id",
                userID
            ).rows.map { $0.text(0) }
            for token in tokens {
                try Self.append(AccountDirectory.tokenAccess(token: token, userID: userID, accountID: accountID, cause: audit), in: c)
            }
        }
    }

    public func removeMembership(accountID: String, userID: String, audit: AuditEvent) async throws -> Bool {
        try await pool.transaction { c in
            guard try c.run("DELETE FROM memberships WHERE account_id = $1 AND user_id = $2", accountID, userID).affectedRows > 0 else {
                return false
            }
            try Self.append(audit, in: c)
            return true
        }
    }

    public func memberships(userID: String) async throws -> [(account: Account, role: Role)] {
        let rows = try await pool.withConnection { c in
            try c.run(
                """
                SELECT \(RowMapping.accountColumns), m.role FROM memberships m JOIN accounts a ON a.id = m.account_id
                WHERE m.user_id = $1 ORDER BY m.account_id
                """,
                userID
            ).rows.map { (RowMapping.account($0), $0.text(6)) }
        }
        return rows.compactMap { account, role in Role(rawValue: role).map { (account, $0) } }
    }
}
