/// The embedded engine: the log database in one SQLite file.
///
/// Two connections, each on its own thread: one for writes (SQLite allows one writer at a
/// time anyway) and one for reads, which in WAL mode see every committed write without
/// waiting for a commit in flight.
public final class SQLiteStore: LogStore {
    private let writer: DatabaseActor
    private let reader: DatabaseActor
    private let checksKeys: Bool

    /// Opens (creating and migrating if needed) the log database at `path`. With `keyringPath`
    /// (a migrated keyring), every insert checks in its own transaction that the data key its
    /// bodies were sealed with has not been destroyed, so a generation sealed just before its
    /// account's keys were destroyed can never be committed after the erasure's last batch.
    public init(path: String, keyringPath: String? = nil) throws {
        writer = try DatabaseActor(path: path, migrations: .log, keyring: keyringPath)
        reader = try DatabaseActor(path: path, migrations: .log)
        checksKeys = keyringPath != nil
    }

    public func close() async {
        await writer.close()
        await reader.close()
    }

    /// Runs `body` on the writer connection; for tests and maintenance commands.
    public func withDatabase<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T {
        try await writer.read(body)
    }

    public func checkHealth() async throws {
        _ = try await reader.read { db in try db.queryFirst("SELECT 1") { $0.int64(0) } }
    }

    // MARK: Accounts and memberships

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

    // MARK: Audit

    public func appendAudit(_ event: AuditEvent) async throws {
        try await writer.write { db in try Self.append(event, to: db) }
    }

    /// Appends inside the caller's transaction, so the event commits with what it records.
    static func append(_ event: AuditEvent, to db: Database) throws {
        let last = try db.queryFirst("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1") {
            ($0.int64(0), $0.blob(1))
        }
        // AUTOINCREMENT never reuses a sequence number, even after the last row was deleted;
        // the chain check catches such a deletion through the previous-hash link.
        let sequence =
            try db.queryFirst("SELECT seq FROM sqlite_sequence WHERE name = 'audit_events'") { $0.int64(0) }
            .map { $0 + 1 } ?? 1
        let previousHash = last?.1 ?? AuditEvent.genesisHash
        let hash = event.chainHash(sequence: sequence, previousHash: previousHash)
        try db.execute(
            """
            INSERT INTO audit_events (seq, occurred_at, actor, action, account_id, target, detail, previous_hash, hash)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            sequence,
            event.occurredAt.micros,
            event.actor,
            event.action,
            event.accountID,
            event.target,
            event.detail,
            previousHash,
            hash
        )
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

    private static let accountColumns = "a.id, a.kind, a.name, a.io_logging_enabled, a.io_logging_enabled_at, a.erased_before"

    /// An account from the first six columns of `row` (`accountColumns`).
    private static func account(from row: Row) -> Account {
        Account(
            id: row.text(0),
            kind: AccountKind(rawValue: row.text(1)) ?? .organization,
            name: row.optionalText(2),
            ioLogging: IOLoggingSetting(
                enabled: row.int64(3) == 1,
                enabledAt: row.optionalInt64(4).map(Timestamp.init(micros:))
            ),
            erasedBefore: row.optionalInt64(5).map(Timestamp.init(micros:))
        )
    }

    private static func account(id: String, in db: Database) throws -> Account? {
        try db.queryFirst("SELECT \(accountColumns) FROM accounts a WHERE a.id = ?", id, map: account(from:))
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
                try Self.append(
                    AuditEvent(
                        occurredAt: audit.occurredAt,
                        actor: audit.actor,
                        action: "token.access",
                        accountID: accountID,
                        target: token,
                        detail: JSONValue.object(["user_id": .string(userID)]).canonicalText
                    ),
                    to: db
                )
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

    private static func role(accountID: String, userID: String, in db: Database) throws -> Role? {
        try db.queryFirst("SELECT role FROM memberships WHERE account_id = ? AND user_id = ?", accountID, userID) {
            Role(rawValue: $0.text(0))
        } ?? nil
    }

    public func role(accountID: String, userID: String) async throws -> Role? {
        try await reader.read { db in try Self.role(accountID: accountID, userID: userID, in: db) }
    }

    // MARK: Tokens

    private static let tokenColumns = "id, kind, user_id, label, created_at, revoked_at, secret_sha256, created_by"

    private static func token(from row: Row) -> TokenRecord {
        TokenRecord(
            id: row.text(0),
            kind: TokenKind(rawValue: row.text(1)) ?? .user,
            userID: row.optionalText(2),
            label: row.optionalText(3),
            createdAt: Timestamp(micros: row.int64(4)),
            revokedAt: row.optionalInt64(5).map(Timestamp.init(micros:)),
            createdBy: row.optionalText(7)
        )
    }

    /// Appends `audit` to the trail of every account `userID` belongs to, so the admins of each
    /// account see a token that can read it; once without an account when there is none (or
    /// for tokens of no user).
    private static func appendForUser(_ audit: AuditEvent, userID: String?, to db: Database) throws {
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
                INSERT INTO tokens (id, kind, user_id, label, created_at, revoked_at, secret_sha256, created_by)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """,
                token.id,
                token.kind.rawValue,
                token.userID,
                token.label,
                token.createdAt.micros,
                token.revokedAt?.micros,
                secretSHA256,
                token.createdBy
            )
            try Self.appendForUser(audit, userID: token.userID, to: db)
        }
    }

    public func tokenCredential(id: String) async throws -> (token: TokenRecord, secretSHA256: [UInt8])? {
        try await reader.read { db in
            try db.queryFirst("SELECT \(Self.tokenColumns) FROM tokens WHERE id = ?", id) { row in
                (Self.token(from: row), row.blob(6))
            }
        }
    }

    public func tokens() async throws -> [TokenRecord] {
        try await reader.read { db in
            try db.query("SELECT \(Self.tokenColumns) FROM tokens ORDER BY created_at DESC, id") { Self.token(from: $0) }
        }
    }

    public func revokeToken(id: String, at time: Timestamp, audit: AuditEvent) async throws -> Bool {
        try await writer.write { db in
            let revoked = try db.execute("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", time.micros, id) > 0
            // Browser sessions opened with the token end with it, in the same transaction.
            try db.execute("DELETE FROM sessions WHERE token_id = ?", id)
            if revoked {
                let userID = try db.queryFirst("SELECT user_id FROM tokens WHERE id = ?", id) { $0.optionalText(0) } ?? nil
                try Self.appendForUser(audit, userID: userID, to: db)
            }
            return revoked
        }
    }

    // MARK: Browser sessions

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

    public func memberships(userID: String) async throws -> [(account: Account, role: Role)] {
        let rows = try await reader.read { db in
            try db.query(
                """
                SELECT \(Self.accountColumns), m.role FROM memberships m JOIN accounts a ON a.id = m.account_id
                WHERE m.user_id = ? ORDER BY m.account_id
                """,
                userID
            ) { row in (Self.account(from: row), row.text(6)) }
        }
        return rows.compactMap { account, role in Role(rawValue: role).map { (account, $0) } }
    }

    // MARK: Retention

    private static let recordedRetention = "SELECT value FROM settings WHERE name = 'retention_months'"

    public func retentionPolicy() async throws -> RetentionPolicy? {
        let text = try await reader.read { db in
            try db.queryFirst(Self.recordedRetention) { $0.text(0) }
        }
        return try text.map { text throws(IOLogError) in try RetentionPolicy(parsing: text) }
    }

    @discardableResult
    public func setRetentionPolicy(_ policy: RetentionPolicy, at time: Timestamp, audit: AuditEvent) async throws -> RetentionPolicy? {
        let value = policy.months.map(String.init) ?? "unlimited"
        let previous = try await writer.write { db -> String? in
            let current = try db.queryFirst(Self.recordedRetention) { $0.text(0) }
            guard current != value else { return current }
            try db.execute(
                """
                INSERT INTO settings (name, value, updated_at) VALUES ('retention_months', ?, ?)
                ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
                """,
                value,
                time.micros
            )
            try Self.append(audit, to: db)
            return current
        }
        return try previous.map { text throws(IOLogError) in try RetentionPolicy(parsing: text) }
    }

    public func purgeableCounts(before cutoff: Timestamp) async throws -> [String: Int] {
        let rows = try await reader.read { db in
            try db.query("SELECT account_id, count(*) FROM generations WHERE created_at < ? GROUP BY account_id", cutoff.micros) {
                ($0.text(0), Int($0.int64(1)))
            }
        }
        return Dictionary(rows, uniquingKeysWith: +)
    }

    public func purgeBatch(before cutoff: Timestamp, limit: Int) async throws -> [String: Int] {
        try await writer.write { db in
            // The oldest first, through generations_by_age; RETURNING gives the per-account counts.
            let accounts = try db.query(
                """
                DELETE FROM generations WHERE rowid IN (
                    SELECT rowid FROM generations WHERE created_at < ? ORDER BY created_at LIMIT ?
                ) RETURNING account_id
                """,
                cutoff.micros,
                limit
            ) { $0.text(0) }
            return accounts.reduce(into: [:]) { counts, account in counts[account, default: 0] += 1 }
        }
    }

    // MARK: Deletion requests

    private static let deletionColumns = """
        id, account_id, requested_by, filed_by, ticket, scope, scope_generation_ids, scope_before, status, created_at, \
        run_by, started_at, keys_destroyed_at, finished_at, rows_erased, keys_destroyed, failure
        """

    private static func deletionRequest(_ row: Row) -> DeletionRequest {
        let scope: DeletionScope
        switch row.text(5) {
        case "generations":
            let ids = (try? JSONValue.parse(Array(row.text(6).utf8))).flatMap { value -> [String]? in
                guard case .array(let items) = value else { return nil }
                return items.compactMap { if case .string(let id) = $0 { id } else { nil } }
            }
            scope = .generations(ids ?? [])
        case "before": scope = .before(Timestamp(micros: row.int64(7)))
        default: scope = .account
        }
        return DeletionRequest(
            id: row.text(0),
            accountID: row.text(1),
            requestedBy: row.text(2),
            filedBy: row.text(3),
            ticket: row.text(4),
            scope: scope,
            status: DeletionStatus(rawValue: row.text(8)) ?? .failed,
            createdAt: Timestamp(micros: row.int64(9)),
            runBy: row.optionalText(10),
            startedAt: row.optionalInt64(11).map(Timestamp.init(micros:)),
            keysDestroyedAt: row.optionalInt64(12).map(Timestamp.init(micros:)),
            finishedAt: row.optionalInt64(13).map(Timestamp.init(micros:)),
            rowsErased: Int(row.int64(14)),
            keysDestroyed: Int(row.int64(15)),
            failure: row.optionalText(16)
        )
    }

    private static func deletionRequest(id: String, in db: Database) throws -> DeletionRequest {
        guard let request = try db.queryFirst("SELECT \(deletionColumns) FROM deletion_requests WHERE id = ?", id, map: deletionRequest) else {
            throw IOLogError.notFound("no deletion request \(id)")
        }
        return request
    }

    public func insertDeletionRequest(_ request: DeletionRequest, audit: AuditEvent) async throws {
        var ids: String?
        var before: Int64?
        switch request.scope {
        case .account: break
        case .generations(let list): ids = JSONValue.array(list.map(JSONValue.string)).canonicalText
        case .before(let time): before = time.micros
        }
        try await writer.write { [ids, before] db in
            try db.execute(
                """
                INSERT INTO deletion_requests (id, account_id, requested_by, filed_by, ticket, scope, scope_generation_ids,
                    scope_before, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                request.id,
                request.accountID,
                request.requestedBy,
                request.filedBy,
                request.ticket,
                request.scope.name,
                ids,
                before,
                request.status.rawValue,
                request.createdAt.micros
            )
            try Self.append(audit, to: db)
        }
    }

    public func deletionRequest(id: String) async throws -> DeletionRequest? {
        try await reader.read { db in
            try db.queryFirst("SELECT \(Self.deletionColumns) FROM deletion_requests WHERE id = ?", id, map: Self.deletionRequest)
        }
    }

    public func deletionRequests(accountID: String?, status: DeletionStatus?) async throws -> [DeletionRequest] {
        try await reader.read { db in
            try db.query(
                """
                SELECT \(Self.deletionColumns) FROM deletion_requests
                WHERE (?1 IS NULL OR account_id = ?1) AND (?2 IS NULL OR status = ?2)
                ORDER BY created_at DESC, rowid DESC
                """,
                accountID,
                status?.rawValue,
                map: Self.deletionRequest
            )
        }
    }

    public func startDeletion(
        id: String,
        runBy: String,
        at time: Timestamp,
        erasedBefore: Timestamp?,
        audit: AuditEvent
    ) async throws
        -> DeletionRequest
    {
        try await writer.write { db in
            if let erasedBefore {
                try db.execute(
                    """
                    UPDATE accounts SET erased_before = max(coalesce(erased_before, ?1), ?1)
                    WHERE id = (SELECT account_id FROM deletion_requests WHERE id = ?2)
                    """,
                    erasedBefore.micros,
                    id
                )
            }
            // Ids of a `generations` scope are remembered, so a retry of one is never stored again.
            try db.execute(
                """
                INSERT INTO erased_generation_ids (account_id, id, request_id)
                SELECT r.account_id, j.value, r.id FROM deletion_requests r, json_each(r.scope_generation_ids) j
                WHERE r.id = ? AND r.scope = 'generations'
                ON CONFLICT (account_id, id) DO NOTHING
                """,
                id
            )
            try db.execute(
                """
                UPDATE deletion_requests SET status = 'running', run_by = ?, started_at = coalesce(started_at, ?),
                    finished_at = NULL, failure = NULL
                WHERE id = ? AND status != 'completed'
                """,
                runBy,
                time.micros,
                id
            )
            try Self.append(audit, to: db)
            return try Self.deletionRequest(id: id, in: db)
        }
    }

    public func recordKeysToDestroy(id: String, count: Int) async throws {
        try await writer.write { db in _ = try db.execute("UPDATE deletion_requests SET keys_destroyed = ? WHERE id = ?", count, id) }
    }

    public func markKeysDestroyed(id: String, at time: Timestamp) async throws -> DeletionRequest {
        try await writer.write { db in
            try db.execute("UPDATE deletion_requests SET keys_destroyed_at = ? WHERE id = ?", time.micros, id)
            return try Self.deletionRequest(id: id, in: db)
        }
    }

    public func eraseBatch(request: DeletionRequest, limit: Int) async throws -> Int {
        let sql: String
        var arguments: [any SQLBindable]
        switch request.scope {
        case .generations(let ids):
            // Looked up by primary key (`+account_id` keeps the planner off the account indexes,
            // which would scan every row of a large account); ids of other accounts are ignored.
            sql = "DELETE FROM generations WHERE id IN (SELECT value FROM json_each(?)) AND +account_id = ?"
            arguments = [JSONValue.array(ids.map(JSONValue.string)).canonicalText, request.accountID]
        case .account, .before:
            // Oldest first through generations_by_time: neighbouring rows, so a batch rewrites few pages.
            var condition = ""
            arguments = [request.accountID]
            if case .before(let time) = request.scope {
                condition = "AND created_at < ?"
                arguments.append(time.micros)
            }
            arguments.append(limit)
            sql = """
                DELETE FROM generations WHERE rowid IN (
                    SELECT rowid FROM generations WHERE account_id = ? \(condition) ORDER BY created_at LIMIT ?
                )
                """
        }
        return try await writer.write { [arguments] db in
            let statement = try db.prepare(sql)
            try statement.bind(arguments)
            _ = try statement.step()
            let erased = db.changes
            // The receipt's counter moves in the same transaction as the rows it counts.
            try db.execute("UPDATE deletion_requests SET rows_erased = rows_erased + ? WHERE id = ?", erased, request.id)
            return erased
        }
    }

    public func finishDeletion(
        id: String,
        status: DeletionStatus,
        failure: String?,
        at time: Timestamp,
        audit: AuditEvent
    ) async throws
        -> DeletionRequest
    {
        try await writer.write { db in
            try db.execute(
                "UPDATE deletion_requests SET status = ?, failure = ?, finished_at = ? WHERE id = ?",
                status.rawValue,
                failure,
                time.micros,
                id
            )
            try Self.append(audit, to: db)
            return try Self.deletionRequest(id: id, in: db)
        }
    }

    public func truncateWAL() async throws {
        try await writer.read { db in try db.truncateWALWaiting() }
    }

    // MARK: Generations

    private static let generationColumns = """
        id, account_id, created_at, stored_at, user_id, api_key_id, model, provider, region, prompt_tokens, \
        completion_tokens, cost_usd, latency_ms, finish_reason, streamed, content_mac, prompt_sealed, \
        completion_sealed, reasoning_sealed
        """

    public func insertGeneration(_ generation: SealedGeneration) async throws {
        switch try await insertGenerations([generation]) {
        case [.stored]: return
        case [.erased]:
            throw IOLogError.refused("generation \(generation.id) was erased at the owner's request (created before the boundary, or listed)")
        case [.keyDestroyed]: throw IOLogError(.keyUnavailable, "generation \(generation.id) was sealed with a destroyed key")
        default: throw IOLogError(.conflict, "generation \(generation.id) is already stored")
        }
    }

    public func insertGenerations(_ generations: [SealedGeneration]) async throws -> [InsertOutcome] {
        let checksKeys = checksKeys
        return try await writer.write { db in
            let insert = try db.prepare(
                "INSERT INTO generations (\(Self.generationColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"
            )
            let existing = try db.prepare("SELECT account_id, content_mac FROM generations WHERE id = ?")
            // The write transaction holds the keyring's write lock too (BEGIN IMMEDIATE covers
            // attached databases), so a key destruction is ordered wholly before or after it.
            let destroyed = checksKeys ? try db.prepare("SELECT 1 FROM keyring.destroyed_keys WHERE account_id = ? AND version = ?") : nil
            let boundary = try db.prepare(
                """
                SELECT 1 FROM accounts WHERE id = ?1 AND erased_before > ?2
                UNION ALL SELECT 1 FROM erased_generation_ids WHERE account_id = ?1 AND id = ?3
                """
            )
            return try generations.map { g in
                // Inside the transaction, so a deletion run that starts meanwhile is ordered
                // wholly before or after this insert.
                try boundary.bind([g.accountID, g.createdAt.micros, g.id])
                if try boundary.step() {
                    while try boundary.step() {}
                    return .erased
                }
                if let destroyed, let version = BodyEnvelope.keyVersion(of: g.promptSealed) {
                    try destroyed.bind([g.accountID, Int64(version)])
                    if try destroyed.step() {
                        while try destroyed.step() {}
                        return .keyDestroyed
                    }
                }
                try insert.bind(Self.arguments(of: g))
                while try insert.step() {}
                if db.changes > 0 { return .stored }
                try existing.bind([g.id])
                guard try existing.step() else { return .conflict }
                let row = Row(statement: existing)
                let same = row.text(0) == g.accountID && Digest.constantTimeEqual(row.blob(1), g.contentMAC)
                return same ? .duplicate : .conflict
            }
        }
    }

    private static func arguments(of g: SealedGeneration) -> [any SQLBindable] {
        [
            g.id, g.accountID, g.createdAt.micros, g.storedAt.micros, g.userID, g.apiKeyID, g.model, g.provider,
            g.region, g.promptTokens, g.completionTokens, g.costUSD, g.latencyMilliseconds, g.finishReason,
            g.streamed, g.contentMAC, g.promptSealed, g.completionSealed, g.reasoningSealed,
        ]
    }

    public func generation(id: String) async throws -> SealedGeneration? {
        try await reader.read { db in
            try db.queryFirst("SELECT \(Self.generationColumns) FROM generations WHERE id = ?", id, map: Self.sealedGeneration)
        }
    }

    public func generation(accountID: String, id: String) async throws -> SealedGeneration? {
        try await reader.read { db in
            try db.queryFirst(
                "SELECT \(Self.generationColumns) FROM generations WHERE id = ? AND account_id = ?",
                id,
                accountID,
                map: Self.sealedGeneration
            )
        }
    }

    public func generationSummaries(
        accountID: String,
        filter: GenerationFilter,
        after cursor: ListCursor?,
        limit: Int
    )
        async throws -> [GenerationSummary]
    {
        try await summaries(Self.listQuery(columns: Self.summaryColumns, accountID: accountID, filter: filter, after: cursor, limit: limit))
    }

    public func generationSummaries(
        accountID: String,
        filter: GenerationFilter,
        newerThan cursor: ListCursor,
        limit: Int
    )
        async throws -> [GenerationSummary]
    {
        let query = Self.listQuery(
            columns: Self.summaryColumns,
            accountID: accountID,
            filter: filter,
            after: cursor,
            limit: limit,
            newer: true
        )
        return try await summaries(query).reversed()
    }

    private func summaries(_ query: (String, [any SQLBindable])) async throws -> [GenerationSummary] {
        try await reader.read { db in
            let statement = try db.prepare(query.0)
            try statement.bind(query.1)
            var rows: [GenerationSummary] = []
            while try statement.step() { rows.append(Self.summary(Row(statement: statement))) }
            return rows
        }
    }

    public func sealedGenerations(
        accountID: String,
        filter: GenerationFilter,
        after cursor: ListCursor?,
        limit: Int
    )
        async throws -> [SealedGeneration]
    {
        let (sql, arguments) = Self.listQuery(
            columns: Self.generationColumns,
            accountID: accountID,
            filter: filter,
            after: cursor,
            limit: limit
        )
        return try await reader.read { db in
            let statement = try db.prepare(sql)
            try statement.bind(arguments)
            var rows: [SealedGeneration] = []
            while try statement.step() { rows.append(Self.sealedGeneration(Row(statement: statement))) }
            return rows
        }
    }

    /// The list query: equality filters first, then the time range, then the keyset position,
    /// ordered to match the `generations_by_*` indexes so no sort step is needed. With `newer`,
    /// it walks the same index the other way: the rows just newer than `cursor`, oldest first.
    static func listQuery(
        columns: String,
        accountID: String,
        filter: GenerationFilter,
        after cursor: ListCursor?,
        limit: Int,
        newer: Bool = false
    ) -> (String, [any SQLBindable]) {
        var conditions = ["account_id = ?"]
        var arguments: [any SQLBindable] = [accountID]
        for (column, value) in [("model", filter.model), ("provider", filter.provider), ("user_id", filter.userID)] {
            if let value {
                conditions.append("\(column) = ?")
                arguments.append(value)
            }
        }
        if let from = filter.from {
            conditions.append("created_at >= ?")
            arguments.append(from.micros)
        }
        if let to = filter.to {
            conditions.append("created_at < ?")
            arguments.append(to.micros)
        }
        if let cursor {
            conditions.append(newer ? "(created_at, id) > (?, ?)" : "(created_at, id) < (?, ?)")
            arguments.append(cursor.createdAt.micros)
            arguments.append(cursor.id)
        }
        arguments.append(limit)
        let sql = """
            SELECT \(columns) FROM generations WHERE \(conditions.joined(separator: " AND ")) \
            ORDER BY \(newer ? "created_at ASC, id ASC" : "created_at DESC, id DESC") LIMIT ?
            """
        return (sql, arguments)
    }

    static let summaryColumns = """
        id, account_id, created_at, stored_at, user_id, api_key_id, model, provider, region, prompt_tokens, \
        completion_tokens, cost_usd, latency_ms, finish_reason, streamed, reasoning_sealed IS NOT NULL
        """

    private static func summary(_ row: Row) -> GenerationSummary {
        var sealed = metadata(row)
        sealed.reasoningSealed = row.int64(15) == 1 ? [] : nil
        return GenerationSummary(sealed)
    }

    /// Columns 0–14 (shared by both column lists) as a generation without bodies.
    private static func metadata(_ row: Row) -> SealedGeneration {
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
            contentMAC: [],
            promptSealed: [],
            completionSealed: []
        )
    }

    private static func sealedGeneration(_ row: Row) -> SealedGeneration {
        var generation = metadata(row)
        generation.contentMAC = row.blob(15)
        generation.promptSealed = row.blob(16)
        generation.completionSealed = row.blob(17)
        generation.reasoningSealed = row.optionalBlob(18)
        return generation
    }

    // MARK: Audit trail reads

    public func auditEvents(accountID: String, actions: [String]?, before: Int64?, limit: Int) async throws -> [StoredAuditEvent] {
        let actionList = actions.map { JSONValue.array($0.map(JSONValue.string)).canonicalText }
        return try await reader.read { db in
            try db.query(
                """
                SELECT \(Self.auditColumns) FROM audit_events
                WHERE account_id = ? AND seq < ? AND (?3 IS NULL OR action IN (SELECT value FROM json_each(?3)))
                ORDER BY seq DESC LIMIT ?
                """,
                accountID,
                before ?? Int64.max,
                actionList,
                limit,
                map: Self.auditEvent
            )
        }
    }

    public func verifyAuditChain() async throws -> AuditVerification {
        // Read in chunks on the reader connection, inside one read transaction so the chain
        // is checked as of one moment while appends go on.
        try await reader.read { db in
            try db.execute("BEGIN")
            defer { try? db.execute("COMMIT") }
            var walker = AuditChainWalker()
            var after: Int64 = 0
            while true {
                let chunk = try db.query(
                    "SELECT \(Self.auditColumns) FROM audit_events WHERE seq > ? ORDER BY seq LIMIT 10000",
                    after,
                    map: Self.auditEvent
                )
                for row in chunk {
                    if let broken = walker.check(row) { return broken }
                }
                guard let last = chunk.last else { break }
                after = last.sequence
            }
            let highest = try db.queryFirst("SELECT seq FROM sqlite_sequence WHERE name = 'audit_events'") { $0.int64(0) } ?? 0
            return walker.finish(highestSequenceUsed: highest)
        }
    }

    private static let auditColumns = "seq, occurred_at, actor, action, account_id, target, detail, previous_hash, hash"

    private static func auditEvent(_ row: Row) -> StoredAuditEvent {
        var event = AuditEvent(
            occurredAt: Timestamp(micros: row.int64(1)),
            actor: row.text(2),
            action: row.text(3),
            accountID: row.optionalText(4),
            target: row.optionalText(5),
            detail: row.optionalText(6)
        )
        event.sequence = row.int64(0)
        return StoredAuditEvent(sequence: row.int64(0), event: event, previousHash: row.blob(7), hash: row.blob(8))
    }
}
