/// Accounts, memberships and the logging setting.
extension SQLiteStore {
    public func setIOLogging(
        accountID: String,
        enabled: Bool,
        at time: Timestamp,
        audit: AuditEvent?
    ) async throws
        -> IOLoggingSetting
    {
        try await writer.write { db in
            // Re-enabling moves the boundary: generations from the gap while it was off are not stored.
            let changed = try db.execute(
                """
                UPDATE accounts SET
                    io_logging_enabled_at = CASE WHEN ?1 = 1 AND io_logging_enabled = 0 THEN ?2
                                                 ELSE io_logging_enabled_at END,
                    io_logging_enabled = ?1,
                    updated_at = ?2
                WHERE id = ?3
                """,
                enabled,
                time.micros,
                accountID
            )
            guard changed == 1, let account = try Self.account(id: accountID, in: db) else {
                throw IOLogError.notFound("no account \(accountID)")
            }
            if let audit { try Self.append(audit, to: db) }
            return account.ioLogging
        }
    }

    public func upsertAccount(id: String, kind: AccountKind, name: String?, at time: Timestamp, audit: AuditEvent) async throws -> Account {
        try await writer.write { db in
            let before = try Self.account(id: id, in: db)
            try db.execute(
                """
                INSERT INTO accounts (id, kind, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, name = excluded.name, updated_at = excluded.updated_at
                """,
                id,
                kind.rawValue,
                name,
                time.micros,
                time.micros
            )
            guard let account = try Self.account(id: id, in: db) else {
                throw IOLogError.notFound("account \(id) vanished while being written")
            }
            if before?.kind != account.kind || before?.name != account.name || before == nil {
                try Self.append(audit, to: db)
            }
            return account
        }
    }

    public func account(id: String) async throws -> Account? {
        try await reader.read { db in try Self.account(id: id, in: db) }
    }

    static func account(id: String, in db: Database) throws -> Account? {
        try db.queryFirst("SELECT \(RowMapping.accountColumns) FROM accounts a WHERE a.id = ?", id, map: RowMapping.account)
    }

    public func setMembership(accountID: String, userID: String, role: Role, at time: Timestamp, audit: AuditEvent) async throws {
        try await writer.write { db in
            guard try Self.account(id: accountID, in: db) != nil else {
                throw IOLogError.notFound("no account \(accountID)")
            }
            let before = try Self.role(accountID: accountID, userID: userID, in: db)
            guard before != role else { return }
            try db.execute(
                """
                INSERT INTO memberships (account_id, user_id, role, updated_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (account_id, user_id) DO UPDATE SET role = excluded.role, updated_at = excluded.updated_at
                """,
                accountID,
                userID,
                role.rawValue,
                time.micros
            )
            try Self.append(audit, to: db)
            // Tokens made for the user before, while their events went to other trails (or to
            // none), can read this account from now on: say so in its trail.
            guard role == .admin else { return }
            let tokens = try db.query(
                "SELECT id FROM tokens WHERE kind = 'user' AND user_id = ? AND revoked_at IS NULL ORDER BY created_at, id",
                userID
            ) { $0.text(0) }
            for token in tokens {
                try Self.append(AccountDirectory.tokenAccess(token: token, userID: userID, accountID: accountID, cause: audit), to: db)
            }
        }
    }

    public func removeMembership(accountID: String, userID: String, audit: AuditEvent) async throws -> Bool {
        try await writer.write { db in
            guard try db.execute("DELETE FROM memberships WHERE account_id = ? AND user_id = ?", accountID, userID) > 0 else {
                return false
            }
            try Self.append(audit, to: db)
            return true
        }
    }

    static func role(accountID: String, userID: String, in db: Database) throws -> Role? {
        try db.queryFirst("SELECT role FROM memberships WHERE account_id = ? AND user_id = ?", accountID, userID) {
            Role(rawValue: $0.text(0))
        } ?? nil
    }

    public func role(accountID: String, userID: String) async throws -> Role? {
        try await reader.read { db in try Self.role(accountID: accountID, userID: userID, in: db) }
    }

    public func memberships(userID: String) async throws -> [(account: Account, role: Role)] {
        let rows = try await reader.read { db in
            try db.query(
                """
                SELECT \(RowMapping.accountColumns), m.role FROM memberships m JOIN accounts a ON a.id = m.account_id
                WHERE m.user_id = ? ORDER BY m.account_id
                """,
                userID
            ) { row in (RowMapping.account(row), row.text(6)) }
        }
        return rows.compactMap { account, role in Role(rawValue: role).map { (account, $0) } }
    }
}
