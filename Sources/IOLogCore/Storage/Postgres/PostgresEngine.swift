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

    public func close() async {
        await postgresStore.closeMaintenance()
        await pool.close()
    }
}

/// The PostgreSQL keyring: schema `iolog_keyring`, which can belong to a role of its own and
/// be left out of the log data's backups.
public final class PostgresKeyStore: KeyStore {
    private let pool: PostgresPool

    init(pool: PostgresPool) {
        self.pool = pool
    }

    public func masterKeyCheck(orStore make: @Sendable () throws -> [UInt8], at time: Timestamp) async throws -> [UInt8] {
        try await pool.transaction { c in
            if let sealed = try c.run("SELECT sealed FROM iolog_keyring.master_key_check WHERE id = 1").first?.blob(0) { return sealed }
            try c.run(
                "INSERT INTO iolog_keyring.master_key_check (id, sealed, created_at) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING",
                try make(),
                time.micros
            )
            guard let sealed = try c.run("SELECT sealed FROM iolog_keyring.master_key_check WHERE id = 1").first?.blob(0) else {
                throw IOLogError.corrupted("the keyring's master key check vanished while being written")
            }
            return sealed
        }
    }

    public func newestKey(accountID: String) async throws -> WrappedDataKey? {
        try await pool.withConnection { c in try Self.newestKey(of: accountID, in: c) }
    }

    private static func newestKey(of accountID: String, in c: PostgresConnection) throws -> WrappedDataKey? {
        try c.run(
            "SELECT version, wrapped FROM iolog_keyring.data_keys WHERE account_id = $1 ORDER BY version DESC LIMIT 1",
            accountID
        ).first.map { WrappedDataKey(version: UInt32($0.int64(0)), wrapped: $0.blob(1)) }
    }

    public func createFirstKey(accountID: String, at time: Timestamp, wrap: @Sendable (UInt32) throws -> [UInt8]) async throws -> WrappedDataKey {
        try await pool.transaction { c in
            // One creator per account at a time, across replicas.
            try c.run("SELECT pg_advisory_xact_lock($1)", Int64(truncatingIfNeeded: ("iolog.key." + accountID).stableHash))
            if let existing = try Self.newestKey(of: accountID, in: c) { return existing }
            let destroyed = try c.run("SELECT max(version) FROM iolog_keyring.destroyed_keys WHERE account_id = $1", accountID)
                .first?.optionalInt64(0)
            let version = UInt32((destroyed ?? 0) + 1)
            let wrapped = try wrap(version)
            try c.run(
                "INSERT INTO iolog_keyring.data_keys (account_id, version, wrapped, created_at) VALUES ($1, $2, $3, $4)",
                accountID,
                Int64(version),
                wrapped,
                time.micros
            )
            return WrappedDataKey(version: version, wrapped: wrapped)
        }
    }

    public func key(accountID: String, version: UInt32) async throws -> [UInt8]? {
        try await pool.withConnection { c in
            try c.run("SELECT wrapped FROM iolog_keyring.data_keys WHERE account_id = $1 AND version = $2", accountID, Int64(version))
                .first?.blob(0)
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
