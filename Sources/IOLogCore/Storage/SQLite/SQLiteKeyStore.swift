/// The embedded engine's keyring: wrapped data keys in a SQLite file of their own
/// (`keyring.sqlite`), apart from the log database.
public final class SQLiteKeyStore: KeyStore {
    private let database: DatabaseActor
    private static let keyColumns = RowMapping.dataKeyColumns
    private static let checkColumns = RowMapping.masterKeyColumns

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

    var connectionUse: ConnectionUse {
        let use = database.use
        return ConnectionUse(role: "keyring", size: 1, busy: use.busy, waiting: use.waiting)
    }

    public func masterKeyState(orStore make: @Sendable () throws -> MasterKeyState, at time: Timestamp) async throws -> MasterKeyState {
        try await database.write { db -> MasterKeyState in
            if let state = try Self.masterKeyState(in: db) { return state }
            let state = try make()
            try db.execute(
                "INSERT INTO master_key_check (id, sealed, created_at, key_id) VALUES (1, ?, ?, ?)",
                state.sealed,
                time.micros,
                state.keyID
            )
            return state
        }
    }

    public func masterKeyState() async throws -> MasterKeyState? {
        try await database.read { db in try Self.masterKeyState(in: db) }
    }

    private static func masterKeyState(in db: Database) throws -> MasterKeyState? {
        try db.queryFirst("SELECT \(checkColumns) FROM master_key_check WHERE id = 1", map: RowMapping.masterKeyState)
    }

    public func adoptMasterKeyID(_ keyID: String) async throws {
        try await database.write { db in
            try db.execute("UPDATE master_key_check SET key_id = ? WHERE id = 1 AND key_id IS NULL", keyID)
            try db.execute("UPDATE data_keys SET master_key_id = ? WHERE master_key_id IS NULL", keyID)
        }
    }

    public func beginMasterKeyRotation(from: String, to next: String, nextSealed: [UInt8]) async throws -> MasterKeyState {
        try await database.write { db in
            try db.execute(
                "UPDATE master_key_check SET next_key_id = ?, next_sealed = ? WHERE id = 1 AND key_id = ? AND next_key_id IS NULL",
                next,
                nextSealed,
                from
            )
            guard let state = try Self.masterKeyState(in: db) else { throw IOLogError.corrupted("the keyring has no master key check") }
            return state
        }
    }

    public func keys(notWrappedBy keyID: String, limit: Int) async throws -> [WrappedDataKey] {
        try await database.read { db in
            try db.query(
                "SELECT \(Self.keyColumns) FROM data_keys WHERE master_key_id IS NOT ? ORDER BY account_id, version LIMIT ?",
                keyID,
                Int64(limit),
                map: RowMapping.dataKey
            )
        }
    }

    public func keyCount(notWrappedBy keyID: String) async throws -> Int {
        try await database.read { db in
            Int(try db.queryFirst("SELECT count(*) FROM data_keys WHERE master_key_id IS NOT ?", keyID) { $0.int64(0) } ?? 0)
        }
    }

    public func rewrap(_ keys: [WrappedDataKey], as rewrapped: [[UInt8]], by keyID: String) async throws -> Int {
        precondition(keys.count == rewrapped.count, "one rewrapped key per key")
        return try await database.write { db in
            var replaced = 0
            for (key, wrapped) in zip(keys, rewrapped) {
                replaced += try db.execute(
                    "UPDATE data_keys SET wrapped = ?, master_key_id = ? WHERE account_id = ? AND version = ? AND master_key_id IS ?",
                    wrapped,
                    keyID,
                    key.accountID,
                    Int64(key.version),
                    key.masterKeyID
                )
            }
            return replaced
        }
    }

    public func finishMasterKeyRotation(to keyID: String) async throws -> Bool {
        try await database.write { db in
            let remaining = try db.queryFirst("SELECT count(*) FROM data_keys WHERE master_key_id IS NOT ?", keyID) { $0.int64(0) } ?? 0
            guard remaining == 0 else { return false }
            try db.execute(
                """
                UPDATE master_key_check SET key_id = next_key_id, sealed = next_sealed, next_key_id = NULL, next_sealed = NULL
                WHERE id = 1 AND next_key_id = ?
                """,
                keyID
            )
            return try Self.masterKeyState(in: db)?.keyID == keyID
        }
    }

    /// Checkpoints and truncates the keyring's WAL, which still holds key rows as they were
    /// before a rotation replaced them (`secure_delete` zeroes the database file's old pages).
    public func scrubReplacedKeys() async throws {
        try await database.read { db in try db.truncateWALWaiting() }
    }

    public func newestKey(accountID: String) async throws -> WrappedDataKey? {
        try await database.read { db in try Self.newestKey(of: accountID, in: db) }
    }

    private static func newestKey(of accountID: String, in db: Database) throws -> WrappedDataKey? {
        try db.queryFirst(
            "SELECT \(keyColumns) FROM data_keys WHERE account_id = ? ORDER BY version DESC LIMIT 1",
            accountID,
            map: RowMapping.dataKey
        )
    }

    public func reserveSeals(accountID: String, version: UInt32, count: Int64, limit: Int64, createdAfter: Timestamp) async throws -> Bool {
        try await database.write { db in
            // The writer's lock orders this against a newer key's insert: either sees the other.
            try db.execute(
                """
                UPDATE data_keys SET seals = seals + ?
                WHERE account_id = ? AND version = ? AND seals + ? <= ? AND created_at > ?
                  AND version = (SELECT max(version) FROM data_keys WHERE account_id = ?)
                """,
                count,
                accountID,
                Int64(version),
                count,
                limit,
                createdAfter.micros,
                accountID
            ) == 1
        }
    }

    public func createKey(
        accountID: String,
        replacing: UInt32?,
        make: @Sendable (UInt32, String?) throws -> WrappedDataKey
    ) async throws -> WrappedDataKey? {
        try await database.write { db in
            guard try Self.newestKey(of: accountID, in: db)?.version == replacing else { return nil }
            let highest =
                try db.queryFirst(
                    """
                    SELECT max(v) FROM (SELECT max(version) AS v FROM destroyed_keys WHERE account_id = ?1
                                        UNION ALL SELECT max(version) FROM data_keys WHERE account_id = ?1)
                    """,
                    accountID
                ) { $0.optionalInt64(0) } ?? nil
            let key = try make(UInt32((highest ?? 0) + 1), try Self.masterKeyState(in: db)?.targetKeyID)
            try db.execute(
                "INSERT INTO data_keys (\(Self.keyColumns)) VALUES (?, ?, ?, ?, ?, ?)",
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
        try await database.read { db in
            try db.queryFirst(
                "SELECT \(Self.keyColumns) FROM data_keys WHERE account_id = ? AND version = ?",
                accountID,
                Int64(version),
                map: RowMapping.dataKey
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

    public func connectionUse() -> [ConnectionUse] {
        let writer = sqliteStore.writer.use
        let reader = sqliteStore.reader.use
        return [
            ConnectionUse(role: "log_writer", size: 1, busy: writer.busy, waiting: writer.waiting),
            ConnectionUse(role: "log_reader", size: 1, busy: reader.busy, waiting: reader.waiting),
            sqliteKeys.connectionUse,
        ]
    }

    public func close() async {
        await sqliteStore.close()
        await sqliteKeys.close()
    }
}
