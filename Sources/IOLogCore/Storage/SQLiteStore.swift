/// The embedded engine: the log database in one SQLite file.
public final class SQLiteStore: LogStore {
    private let database: DatabaseActor

    /// Opens (creating and migrating if needed) the log database at `path`.
    public init(path: String) throws {
        database = try DatabaseActor(path: path, migrations: .log)
    }

    public func close() async {
        await database.close()
    }

    /// Runs `body` on the store's connection; for tests and maintenance commands.
    public func withDatabase<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T {
        try await database.read(body)
    }

    public func checkHealth() async throws {
        _ = try await database.read { db in try db.queryFirst("SELECT 1") { $0.int64(0) } }
    }

    // MARK: Accounts and memberships

    public func setIOLogging(accountID: String, enabled: Bool, at time: Timestamp) async throws -> IOLoggingSetting {
        try await database.write { db in
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
            return account.ioLogging
        }
    }

    public func upsertAccount(id: String, kind: AccountKind, name: String?, at time: Timestamp) async throws -> Account {
        try await database.write { db in
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
            return account
        }
    }

    public func account(id: String) async throws -> Account? {
        try await database.read { db in try Self.account(id: id, in: db) }
    }

    private static func account(id: String, in db: Database) throws -> Account? {
        try db.queryFirst(
            "SELECT id, kind, name, io_logging_enabled, io_logging_enabled_at FROM accounts WHERE id = ?",
            id
        ) { row in
            Account(
                id: row.text(0),
                kind: AccountKind(rawValue: row.text(1)) ?? .organization,
                name: row.optionalText(2),
                ioLogging: IOLoggingSetting(
                    enabled: row.int64(3) == 1,
                    enabledAt: row.optionalInt64(4).map(Timestamp.init(micros:))
                )
            )
        }
    }

    public func setMembership(accountID: String, userID: String, role: Role, at time: Timestamp) async throws {
        try await database.write { db in
            guard try Self.account(id: accountID, in: db) != nil else {
                throw IOLogError.notFound("no account \(accountID)")
            }
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
        }
    }

    public func removeMembership(accountID: String, userID: String) async throws -> Bool {
        try await database.write { db in
            try db.execute("DELETE FROM memberships WHERE account_id = ? AND user_id = ?", accountID, userID) > 0
        }
    }

    public func role(accountID: String, userID: String) async throws -> Role? {
        try await database.read { db in
            try db.queryFirst("SELECT role FROM memberships WHERE account_id = ? AND user_id = ?", accountID, userID) {
                Role(rawValue: $0.text(0))
            } ?? nil
        }
    }

    // MARK: Tokens

    private static let tokenColumns = "id, kind, user_id, label, created_at, revoked_at, secret_sha256"

    private static func token(from row: Row) -> TokenRecord {
        TokenRecord(
            id: row.text(0),
            kind: TokenKind(rawValue: row.text(1)) ?? .user,
            userID: row.optionalText(2),
            label: row.optionalText(3),
            createdAt: Timestamp(micros: row.int64(4)),
            revokedAt: row.optionalInt64(5).map(Timestamp.init(micros:))
        )
    }

    public func insertToken(_ token: TokenRecord, secretSHA256: [UInt8]) async throws {
        try await database.write { db in
            try db.execute(
                "INSERT INTO tokens (id, kind, user_id, label, created_at, revoked_at, secret_sha256) VALUES (?, ?, ?, ?, ?, ?, ?)",
                token.id,
                token.kind.rawValue,
                token.userID,
                token.label,
                token.createdAt.micros,
                token.revokedAt?.micros,
                secretSHA256
            )
        }
    }

    public func tokenCredential(id: String) async throws -> (token: TokenRecord, secretSHA256: [UInt8])? {
        try await database.read { db in
            try db.queryFirst("SELECT \(Self.tokenColumns) FROM tokens WHERE id = ?", id) { row in
                (Self.token(from: row), row.blob(6))
            }
        }
    }

    public func tokens() async throws -> [TokenRecord] {
        try await database.read { db in
            try db.query("SELECT \(Self.tokenColumns) FROM tokens ORDER BY created_at DESC, id") { Self.token(from: $0) }
        }
    }

    public func revokeToken(id: String, at time: Timestamp) async throws -> Bool {
        try await database.write { db in
            try db.execute("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", time.micros, id) > 0
        }
    }

    // MARK: Generations

    private static let generationColumns = """
        id, account_id, created_at, stored_at, user_id, api_key_id, model, provider, region, prompt_tokens, \
        completion_tokens, cost_usd, latency_ms, finish_reason, streamed, content_mac, prompt_sealed, \
        completion_sealed, reasoning_sealed
        """

    public func insertGeneration(_ generation: SealedGeneration) async throws {
        try await database.write { db in
            do {
                try Self.insert(generation, into: db)
            } catch let error as DatabaseError where error.isUniquenessViolation {
                throw IOLogError(.conflict, "generation \(generation.id) is already stored")
            }
        }
    }

    static func insert(_ g: SealedGeneration, into db: Database) throws {
        try db.execute(
            "INSERT INTO generations (\(generationColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            g.id,
            g.accountID,
            g.createdAt.micros,
            g.storedAt.micros,
            g.userID,
            g.apiKeyID,
            g.model,
            g.provider,
            g.region,
            g.promptTokens,
            g.completionTokens,
            g.costUSD,
            g.latencyMilliseconds,
            g.finishReason,
            g.streamed,
            g.contentMAC,
            g.promptSealed,
            g.completionSealed,
            g.reasoningSealed
        )
    }

    public func generation(id: String) async throws -> SealedGeneration? {
        try await database.read { db in
            try db.queryFirst("SELECT \(Self.generationColumns) FROM generations WHERE id = ?", id) { row in
                SealedGeneration(
                    id: row.text(0),
                    accountID: row.text(1),
                    createdAt: Timestamp(micros: row.int64(2)),
                    storedAt: Timestamp(micros: row.int64(3)),
                    userID: row.optionalText(4),
                    apiKeyID: row.optionalText(5),
                    model: row.text(6),
                    provider: row.text(7),
                    region: row.text(8),
                    promptTokens: row.optionalInt64(9),
                    completionTokens: row.optionalInt64(10),
                    costUSD: row.optionalDouble(11),
                    latencyMilliseconds: row.optionalInt64(12),
                    finishReason: row.optionalText(13),
                    streamed: row.optionalInt64(14).map { $0 == 1 },
                    contentMAC: row.blob(15),
                    promptSealed: row.blob(16),
                    completionSealed: row.blob(17),
                    reasoningSealed: row.optionalBlob(18)
                )
            }
        }
    }
}
