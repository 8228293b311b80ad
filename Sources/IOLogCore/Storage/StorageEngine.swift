/// One storage engine: the log store and the keyring's tables, opened together, migrated before
/// the service starts and closed after it stops. Choosing an engine is choosing one of these.
///
/// Every engine keeps the invariants written on `LogStore` and `KeyStore`, and passes the
/// conformance suite (`Tests/IOLogCoreTests/ConformanceTests.swift`) that checks them.
public protocol StorageEngine: Sendable {
    /// The log data: accounts, tokens, generations, audit trail, deletion requests.
    var store: any LogStore { get }
    /// The keyring's tables, kept apart from the log data (a file of their own on SQLite, a
    /// schema of their own on PostgreSQL), so a backup of the log data decrypts nothing.
    var keys: any KeyStore { get }
    /// Creates and migrates both databases; refuses a schema newer than this build knows. Runs
    /// once before the server starts listening (and first in every command).
    func migrate() async throws
    /// Closes every connection once queued work is done.
    func close() async
}

/// Where the data lives: the data folder's SQLite files, or a PostgreSQL database.
public enum StorageLocation: Sendable {
    case sqlite(DataFolder)
    /// A libpq connection URL (`postgres://user:password@host:port/db?sslmode=…`) and how many
    /// connections this process may hold.
    case postgres(url: String, connections: Int)

    /// The environment variable that selects PostgreSQL when `--database-url` is not given.
    public static let databaseURLVariable = "IOLOG_DATABASE_URL"
    /// Connections per process when not configured: enough for group commit, reads and one
    /// long maintenance job, small enough for several replicas on one server's default limit.
    public static let defaultPostgresConnections = 8

    /// `--database-url` (or `IOLOG_DATABASE_URL`) when given, else the data folder's SQLite.
    public static func choose(
        databaseURL: String?,
        environment: [String: String],
        dataFolder: DataFolder,
        connections: Int = defaultPostgresConnections
    ) throws
        -> StorageLocation
    {
        guard let url = databaseURL ?? environment[databaseURLVariable].flatMap({ $0.isEmpty ? nil : $0 }) else {
            return .sqlite(dataFolder)
        }
        guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") else {
            throw IOLogError(.invalidInput, "--database-url must start with postgres:// or postgresql://")
        }
        return .postgres(url: url, connections: connections)
    }

    /// Opens the engine (no I/O yet beyond creating the data folder; `migrate()` comes next).
    public func open() throws -> any StorageEngine {
        switch self {
        case .sqlite(let folder): try SQLiteEngine(folder: folder)
        case .postgres(let url, let connections): PostgresEngine(url: url, connections: connections)
        }
    }

    /// Opens and migrates the engine, runs `body` and closes the engine, also when `body` throws.
    public func withEngine<T>(_ body: (any StorageEngine) async throws -> T) async throws -> T {
        let engine = try open()
        do {
            try await engine.migrate()
            let result = try await body(engine)
            await engine.close()
            return result
        } catch {
            await engine.close()
            throw error
        }
    }

    /// Where the data lives, for messages; never the password of a URL.
    public var description: String {
        switch self {
        case .sqlite(let folder): "SQLite in \(folder.path)"
        case .postgres(let url, _): "PostgreSQL at \(Self.redacted(url))"
        }
    }

    /// `url` without its password (`postgres://user:***@host/db`).
    public static func redacted(_ url: String) -> String {
        guard let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].lastIndex(of: "@") else { return url }
        let credentials = url[scheme.upperBound..<at]
        guard let colon = credentials.firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":***" + String(url[at...])
    }
}

/// A data key as the keyring stores it: wrapped by the master key.
public struct WrappedDataKey: Sendable, Equatable {
    public let version: UInt32
    public let wrapped: [UInt8]

    public init(version: UInt32, wrapped: [UInt8]) {
        self.version = version
        self.wrapped = wrapped
    }
}

/// The keyring's table operations. Wrapping and unwrapping stay in `DataKeyring` (the domain):
/// an engine stores and deletes opaque wrapped keys and never sees the master key.
///
/// Invariant every engine keeps: once `destroyKeys` has returned, no `insertGenerations` that
/// commits afterwards stores a body sealed with one of the destroyed keys — the check runs
/// inside the insert's own transaction, ordered against the destruction (SQLite: the writer's
/// lock covers the attached keyring; PostgreSQL: the insert holds a share lock on the key row,
/// which the destruction's delete must wait for).
public protocol KeyStore: Sendable {
    /// The sealed master-key check; when the keyring has none yet, stores `make()` first (once,
    /// even with several processes starting at the same time) and returns what is stored.
    func masterKeyCheck(orStore make: @Sendable () throws -> [UInt8], at time: Timestamp) async throws -> [UInt8]
    /// The newest key of the account, nil if it has none.
    func newestKey(accountID: String) async throws -> WrappedDataKey?
    /// Stores the account's first key when it has none, at the version after any destroyed one
    /// (a fresh key never reuses a destroyed version), wrapping it with `wrap(version)`; returns
    /// the account's newest key, which is another process's when it won the race.
    func createFirstKey(accountID: String, at time: Timestamp, wrap: @Sendable (UInt32) throws -> [UInt8]) async throws -> WrappedDataKey
    /// Key `version` of the account; nil when destroyed or never made.
    func key(accountID: String, version: UInt32) async throws -> [UInt8]?
    /// Every wrapped key of the account, oldest first (for erasure checks).
    func wrappedKeys(accountID: String) async throws -> [[UInt8]]
    /// How many keys the account has now.
    func keyCount(accountID: String) async throws -> Int
    /// Crypto-shredding: deletes every key of the account, remembering only the versions, and
    /// scrubs the deleted keys from the engine's files (see `LogStore.scrubErasedResidue`).
    /// Returns how many keys were destroyed.
    func destroyKeys(accountID: String, at time: Timestamp) async throws -> Int
}
