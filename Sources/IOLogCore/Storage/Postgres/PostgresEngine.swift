import IOLogSchema

/// PostgreSQL: the log data in schema `iolog`, the keyring in schema `iolog_keyring` of the same
/// database, reached through one small pool of libpq connections, each on its own thread.
public final class PostgresEngine: StorageEngine {
    public let url: String
    let pool: PostgresPool
    public let postgresStore: PostgresStore
    public let postgresKeys: PostgresKeyStore

    public var store: any LogStore { postgresStore }
    public var keys: any KeyStore { postgresKeys }

    /// Connects to nothing yet: connections open on their own threads at first use.
    public init(url: String, connections: Int) {
        self.url = url
        pool = PostgresPool(url: url, size: max(connections, 2))
        postgresStore = PostgresStore(pool: pool, url: url)
        postgresKeys = PostgresKeyStore(pool: pool)
    }

    /// Both schemas, under an advisory lock so replicas starting together migrate one at a
    /// time; then the chain head and the partitions of the coming months.
    public func migrate() async throws {
        try await pool.withConnection { c in
            try c.run("SELECT pg_advisory_lock($1)", Self.migrationLock)
            defer { _ = try? c.run("SELECT pg_advisory_unlock($1)", Self.migrationLock) }
            try Self.apply(EmbeddedSchema.postgresKeyring, schema: "iolog_keyring", name: "keyring", in: c)
            try Self.apply(EmbeddedSchema.postgresLog, schema: "iolog", name: "log", in: c)
            try c.run(
                "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, $1) ON CONFLICT (id) DO NOTHING",
                AuditEvent.genesisHash
            )
            try Self.checkOwnership(in: c)
        }
        let now = MonthPartition.month(ofMicros: Clock.system.nowMicros())
        try await postgresStore.createPartitions(Set((now - 1)...(now + MonthPartition.monthsAhead)))
    }

    /// Refuses to run unless this role owns the tables erasure vacuums: PostgreSQL lets only
    /// the owner VACUUM a table and skips it with a warning otherwise, so an erasure would end
    /// "completed" with its residue left in place.
    private static func checkOwnership(in c: PostgresConnection) throws {
        let foreign = try c.run(
            """
            SELECT n.nspname || '.' || t.relname FROM pg_class t JOIN pg_namespace n ON n.oid = t.relnamespace
            WHERE n.nspname IN ('iolog', 'iolog_keyring') AND t.relkind IN ('r', 'p')
              AND NOT pg_has_role(current_user, t.relowner, 'USAGE')
            ORDER BY 1 LIMIT 3
            """
        ).rows.map { $0.text(0) }
        guard foreign.isEmpty else {
            throw IOLogError.refused(
                "the database role iolog connects as does not own \(foreign.joined(separator: ", ")); an erasure could not vacuum them. "
                    + "Connect as the owner of schemas iolog and iolog_keyring (see docs/OPERATIONS.md)"
            )
        }
    }

    private static let migrationLock = Int64(truncatingIfNeeded: "iolog.migrate".stableHash)

    private static func apply(_ files: [EmbeddedSchema.File], schema: String, name: String, in c: PostgresConnection) throws {
        // Only when missing: CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when
        // the schema is there.
        if try c.run("SELECT to_regclass($1) IS NULL", "\(schema).schema_migrations").first?.bool(0) == true {
            let table = String(decoding: EmbeddedSchema.postgresMigrationsTable, as: UTF8.self).replacingOccurrences(of: ":schema", with: schema)
            try c.executeScript(table)
        }
        let current = try c.run("SELECT coalesce(max(version), 0) FROM \(schema).schema_migrations").first?.int64(0) ?? 0
        let latest = Int64(files.last?.version ?? 0)
        if current > latest {
            throw IOLogError.schemaTooNew(
                "the \(name) schema \(schema) has schema version \(current), but this iolog knows only up to \(latest); run a newer iolog"
            )
        }
        for file in files where file.version > current {
            try c.transaction {
                try c.executeScript(String(decoding: file.sql, as: UTF8.self))
                try c.run("INSERT INTO \(schema).schema_migrations (version, name) VALUES ($1, $2)", file.version, file.name)
            }
        }
    }

    public func connectionUse() -> [ConnectionUse] {
        let use = pool.use
        return [ConnectionUse(role: "pool", size: pool.size, busy: use.busy, waiting: use.waiting)]
    }

    public func close() async {
        await postgresStore.closeMaintenance()
        await pool.close()
    }
}

/// The PostgreSQL keyring: schema `iolog_keyring`, which can belong to a role of its own and
/// be left out of the log data's backups.
public final class PostgresKeyStore: KeyStore {
    private let pool: PostgresPool
    private static let keyColumns = RowMapping.dataKeyColumns
    private static let checkColumns = RowMapping.masterKeyColumns

    init(pool: PostgresPool) {
        self.pool = pool
    }

    public func masterKeyState(orStore make: @Sendable () throws -> MasterKeyState, at time: Timestamp) async throws -> MasterKeyState {
        try await pool.transaction { c in
            if let state = try Self.masterKeyState(in: c) { return state }
            let state = try make()
            try c.run(
                """
                INSERT INTO iolog_keyring.master_key_check (id, sealed, created_at, key_id) VALUES (1, $1, $2, $3)
                ON CONFLICT (id) DO NOTHING
                """,
                state.sealed,
                time.micros,
                state.keyID
            )
            guard let stored = try Self.masterKeyState(in: c) else {
                throw IOLogError.corrupted("the keyring's master key check vanished while being written")
            }
            return stored
        }
    }

    public func masterKeyState() async throws -> MasterKeyState? {
        try await pool.withConnection { c in try Self.masterKeyState(in: c) }
    }

    private static func masterKeyState(in c: PostgresConnection, lock: String = "") throws -> MasterKeyState? {
        try c.run("SELECT \(checkColumns) FROM iolog_keyring.master_key_check WHERE id = 1 \(lock)").first.map(RowMapping.masterKeyState)
    }

    public func adoptMasterKeyID(_ keyID: String) async throws {
        try await pool.transaction { c in
            try c.run("UPDATE iolog_keyring.master_key_check SET key_id = $1 WHERE id = 1 AND key_id IS NULL", keyID)
            try c.run("UPDATE iolog_keyring.data_keys SET master_key_id = $1 WHERE master_key_id IS NULL", keyID)
        }
    }

    public func beginMasterKeyRotation(from: String, to next: String, nextSealed: [UInt8]) async throws -> MasterKeyState {
        try await pool.transaction { c in
            try c.run(
                """
                UPDATE iolog_keyring.master_key_check SET next_key_id = $1, next_sealed = $2
                WHERE id = 1 AND key_id = $3 AND next_key_id IS NULL
                """,
                next,
                nextSealed,
                from
            )
            guard let state = try Self.masterKeyState(in: c) else { throw IOLogError.corrupted("the keyring has no master key check") }
            return state
        }
    }

    public func keys(notWrappedBy keyID: String, limit: Int) async throws -> [WrappedDataKey] {
        try await pool.withConnection { c in
            try c.run(
                """
                SELECT \(Self.keyColumns) FROM iolog_keyring.data_keys WHERE master_key_id IS DISTINCT FROM $1
                ORDER BY account_id, version LIMIT $2
                """,
                keyID,
                Int64(limit)
            ).rows.map(RowMapping.dataKey)
        }
    }

    public func keyCount(notWrappedBy keyID: String) async throws -> Int {
        try await pool.withConnection { c in
            Int(
                try c.run("SELECT count(*) FROM iolog_keyring.data_keys WHERE master_key_id IS DISTINCT FROM $1", keyID).first?.int64(0) ?? 0
            )
        }
    }

    public func rewrap(_ keys: [WrappedDataKey], as rewrapped: [[UInt8]], by keyID: String) async throws -> Int {
        precondition(keys.count == rewrapped.count, "one rewrapped key per key")
        // Inserts share-lock key rows in generation-id order, this updates them in key order:
        // a deadlock between the two is broken by the server and this batch tried again.
        return try await pool.retryingTransaction { c in
            var replaced = 0
            for (key, wrapped) in zip(keys, rewrapped) {
                replaced += try c.run(
                    """
                    UPDATE iolog_keyring.data_keys SET wrapped = $1, master_key_id = $2
                    WHERE account_id = $3 AND version = $4 AND master_key_id IS NOT DISTINCT FROM $5
                    """,
                    wrapped,
                    keyID,
                    key.accountID,
                    Int64(key.version),
                    key.masterKeyID
                ).affectedRows
            }
            return replaced
        }
    }

    public func finishMasterKeyRotation(to keyID: String) async throws -> Bool {
        try await pool.transaction { c in
            // The check row's lock orders this against key creation, which reads it FOR SHARE.
            _ = try Self.masterKeyState(in: c, lock: "FOR UPDATE")
            let remaining =
                try c.run("SELECT count(*) FROM iolog_keyring.data_keys WHERE master_key_id IS DISTINCT FROM $1", keyID).first?.int64(0) ?? 0
            guard remaining == 0 else { return false }
            try c.run(
                """
                UPDATE iolog_keyring.master_key_check
                SET key_id = next_key_id, sealed = next_sealed, next_key_id = NULL, next_sealed = NULL
                WHERE id = 1 AND next_key_id = $1
                """,
                keyID
            )
            return try Self.masterKeyState(in: c)?.keyID == keyID
        }
    }

    /// Vacuums the key table, so the space of row versions replaced by a rotation (wrapped by
    /// the old key) is reclaimed; WAL and backups keep theirs (OPERATIONS.md).
    public func scrubReplacedKeys() async throws {
        try await pool.withConnection { c in try c.executeScript("VACUUM iolog_keyring.data_keys") }
    }

    public func newestKey(accountID: String) async throws -> WrappedDataKey? {
        try await pool.withConnection { c in try Self.newestKey(of: accountID, in: c) }
    }

    private static func newestKey(of accountID: String, in c: PostgresConnection) throws -> WrappedDataKey? {
        try c.run(
            "SELECT \(keyColumns) FROM iolog_keyring.data_keys WHERE account_id = $1 ORDER BY version DESC LIMIT 1",
            accountID
        ).first.map(RowMapping.dataKey)
    }

    /// The account's key lock: one creator or reserver per account at a time, across replicas.
    private static func lockAccountKeys(_ accountID: String, in c: PostgresConnection) throws {
        try c.run("SELECT pg_advisory_xact_lock($1)", Int64(truncatingIfNeeded: ("iolog.key." + accountID).stableHash))
    }

    public func reserveSeals(accountID: String, version: UInt32, count: Int64, limit: Int64, createdAfter: Timestamp) async throws -> Bool {
        try await pool.transaction { c in
            try Self.lockAccountKeys(accountID, in: c)
            return try c.run(
                """
                UPDATE iolog_keyring.data_keys SET seals = seals + $1
                WHERE account_id = $2 AND version = $3 AND seals + $1 <= $4 AND created_at > $5
                  AND version = (SELECT max(version) FROM iolog_keyring.data_keys WHERE account_id = $2)
                """,
                count,
                accountID,
                Int64(version),
                limit,
                createdAfter.micros
            ).affectedRows == 1
        }
    }

    public func createKey(
        accountID: String,
        replacing: UInt32?,
        make: @Sendable (UInt32, String?) throws -> WrappedDataKey
    ) async throws -> WrappedDataKey? {
        try await pool.transaction { c in
            try Self.lockAccountKeys(accountID, in: c)
            guard try Self.newestKey(of: accountID, in: c)?.version == replacing else { return nil }
            let highest = try c.run(
                """
                SELECT greatest((SELECT max(version) FROM iolog_keyring.destroyed_keys WHERE account_id = $1),
                                (SELECT max(version) FROM iolog_keyring.data_keys WHERE account_id = $1))
                """,
                accountID
            ).first?.optionalInt64(0)
            // Share-locked until commit, so a rotation cannot finish between this read and the insert.
            let target = try Self.masterKeyState(in: c, lock: "FOR SHARE")?.targetKeyID
            let key = try make(UInt32((highest ?? 0) + 1), target)
            try c.run(
                "INSERT INTO iolog_keyring.data_keys (\(Self.keyColumns)) VALUES ($1, $2, $3, $4, $5, $6)",
                key.accountID,
                Int64(key.version),
                key.wrapped,
                key.masterKeyID,
                key.createdAt.micros,
                key.seals
            )
            return key
        }
    }

    public func key(accountID: String, version: UInt32) async throws -> WrappedDataKey? {
        try await pool.withConnection { c in
            try c.run(
                "SELECT \(Self.keyColumns) FROM iolog_keyring.data_keys WHERE account_id = $1 AND version = $2",
                accountID,
                Int64(version)
            ).first.map(RowMapping.dataKey)
        }
    }

    public func wrappedKeys(accountID: String) async throws -> [[UInt8]] {
        try await pool.withConnection { c in
            try c.run("SELECT wrapped FROM iolog_keyring.data_keys WHERE account_id = $1 ORDER BY version", accountID).rows.map { $0.blob(0) }
        }
    }

    public func keyCount(accountID: String) async throws -> Int {
        try await pool.withConnection { c in
            Int(try c.run("SELECT count(*) FROM iolog_keyring.data_keys WHERE account_id = $1", accountID).first?.int64(0) ?? 0)
        }
    }

    /// Deletes the key rows (waiting for inserts in flight that hold a share lock on them), then
    /// vacuums the table so the dead rows' space is reclaimed.
    public func destroyKeys(accountID: String, at time: Timestamp) async throws -> Int {
        let destroyed = try await pool.transaction { c in
            try c.run(
                """
                INSERT INTO iolog_keyring.destroyed_keys (account_id, version, destroyed_at)
                SELECT account_id, version, $1 FROM iolog_keyring.data_keys WHERE account_id = $2
                ON CONFLICT (account_id, version) DO NOTHING
                """,
                time.micros,
                accountID
            )
            return try c.run("DELETE FROM iolog_keyring.data_keys WHERE account_id = $1", accountID).affectedRows
        }
        try await pool.withConnection { c in try c.executeScript("VACUUM iolog_keyring.data_keys") }
        return destroyed
    }
}
