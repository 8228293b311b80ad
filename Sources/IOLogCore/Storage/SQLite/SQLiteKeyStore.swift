/// The embedded engine's keyring: wrapped data keys in a SQLite file of their own
/// (`keyring.sqlite`), apart from the log database.
public final class SQLiteKeyStore: KeyStore {
    private let database: DatabaseActor

    /// Opens the keyring at `path` (migrated by `migrate()`).
    public init(path: String) throws {
        database = try DatabaseActor(path: path, name: "keyring")
    }

    /// Creates or updates the schema (`schema/sqlite/keyring_*.sql`).
    public func migrate() async throws {
        try await database.read { db in try MigrationSet.keyring.apply(to: db) }
    }

    public func close() async {
        await database.close()
    }

    public func masterKeyCheck(orStore make: @Sendable () throws -> [UInt8], at time: Timestamp) async throws -> [UInt8] {
        try await database.write { db -> [UInt8] in
            if let sealed = try db.queryFirst("SELECT sealed FROM master_key_check WHERE id = 1", map: { $0.blob(0) }) {
                return sealed
            }
            let sealed = try make()
            try db.execute("INSERT INTO master_key_check (id, sealed, created_at) VALUES (1, ?, ?)", sealed, time.micros)
            return sealed
        }
    }

    public func newestKey(accountID: String) async throws -> WrappedDataKey? {
        try await database.read { db in try Self.newestKey(of: accountID, in: db) }
    }

    private static func newestKey(of accountID: String, in db: Database) throws -> WrappedDataKey? {
        try db.queryFirst(
            "SELECT version, wrapped FROM data_keys WHERE account_id = ? ORDER BY version DESC LIMIT 1",
            accountID
        ) { WrappedDataKey(version: UInt32($0.int64(0)), wrapped: $0.blob(1)) }
    }

    public func createFirstKey(accountID: String, at time: Timestamp, wrap: @Sendable (UInt32) throws -> [UInt8]) async throws -> WrappedDataKey {
        try await database.write { db in
            if let existing = try Self.newestKey(of: accountID, in: db) { return existing }
            let destroyed: Int64? =
                try db.queryFirst("SELECT max(version) FROM destroyed_keys WHERE account_id = ?", accountID) {
                    $0.optionalInt64(0)
                } ?? nil
            let version = UInt32((destroyed ?? 0) + 1)
            let wrapped = try wrap(version)
            try db.execute(
                "INSERT INTO data_keys (account_id, version, wrapped, created_at) VALUES (?, ?, ?, ?)",
                accountID,
                Int64(version),
                wrapped,
                time.micros
            )
            return WrappedDataKey(version: version, wrapped: wrapped)
        }
    }

    public func key(accountID: String, version: UInt32) async throws -> [UInt8]? {
        try await database.read { db in
            try db.queryFirst(
                "SELECT wrapped FROM data_keys WHERE account_id = ? AND version = ?",
                accountID,
                Int64(version),
                map: { $0.blob(0) }
            )
        }
    }

    public func wrappedKeys(accountID: String) async throws -> [[UInt8]] {
        try await database.read { db in
            try db.query("SELECT wrapped FROM data_keys WHERE account_id = ? ORDER BY version", accountID) { $0.blob(0) }
        }
    }

    public func keyCount(accountID: String) async throws -> Int {
        try await database.read { db in
            Int(try db.queryFirst("SELECT count(*) FROM data_keys WHERE account_id = ?", accountID) { $0.int64(0) } ?? 0)
        }
    }

    /// Deletes the keys (the log database's writer sees that at its next transaction: the
    /// keyring is attached to it), then checkpoints and truncates the keyring's WAL, so the
    /// wrapped keys are in no file.
    public func destroyKeys(accountID: String, at time: Timestamp) async throws -> Int {
        let destroyed = try await database.write { db in
            try db.execute(
                """
                INSERT OR IGNORE INTO destroyed_keys (account_id, version, destroyed_at)
                SELECT account_id, version, ? FROM data_keys WHERE account_id = ?
                """,
                time.micros,
                accountID
            )
            return try db.execute("DELETE FROM data_keys WHERE account_id = ?", accountID)
        }
        try await database.read { db in try db.truncateWALWaiting() }
        return destroyed
    }
}

/// SQLite in the data folder: the log database and, in a file of its own, the keyring.
public final class SQLiteEngine: StorageEngine {
    public let folder: DataFolder
    /// The log store, typed for tests and maintenance that need SQLite itself.
    public let sqliteStore: SQLiteStore
    public let sqliteKeys: SQLiteKeyStore

    public var store: any LogStore { sqliteStore }
    public var keys: any KeyStore { sqliteKeys }

    /// Creates the folder and empty private database files when missing and opens both.
    public init(folder: DataFolder) throws {
        self.folder = folder
        try folder.prepareDatabaseFile(folder.logDatabasePath)
        try folder.prepareDatabaseFile(folder.keyringPath)
        sqliteKeys = try SQLiteKeyStore(path: folder.keyringPath)
        sqliteStore = try SQLiteStore(path: folder.logDatabasePath, keyringPath: folder.keyringPath)
    }

    /// The keyring first: the log database's writer has it attached for the destroyed-key check.
    public func migrate() async throws {
        try await sqliteKeys.migrate()
        try await sqliteStore.migrate()
    }

    public func close() async {
        await sqliteStore.close()
        await sqliteKeys.close()
    }
}
