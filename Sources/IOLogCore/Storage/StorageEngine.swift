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
    /// The engine's connections by role, with how many are busy and how many callers wait.
    func connectionUse() -> [ConnectionUse]
    /// Creates and migrates both databases; refuses a schema newer than this build knows. Runs
    /// once before the server starts listening (and first in every command).
    func migrate() async throws
    /// Closes every connection once queued work is done.
    func close() async
}

/// An engine's error that can say the database is out of reach or cannot be written right now:
/// a full disk, an I/O error, a read-only file, the server down or refusing connections. The
/// service answers those 503 with `Retry-After`, never 500: nothing was acknowledged, nothing
/// stored was harmed, and the same request succeeds once the cause is gone. Which of its errors
/// those are, each engine decides.
public protocol StorageFailure: Error {
    /// True when the database is unreachable or unwritable for now, not when the request or
    /// the stored data is at fault.
    var isUnavailability: Bool { get }
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

    /// `url` without its password, whether in the user part (`postgres://user:***@host/db`) or
    /// as a `password=` parameter of the query string (`?password=***`).
    public static func redacted(_ url: String) -> String {
        var result = url
        if let scheme = result.range(of: "://"), let at = result[scheme.upperBound...].lastIndex(of: "@") {
            let credentials = result[scheme.upperBound..<at]
            if let colon = credentials.firstIndex(of: ":") {
                result = String(result[..<colon]) + ":***" + String(result[at...])
            }
        }
        guard let query = result.firstIndex(of: "?") else { return result }
        let parameters = result[result.index(after: query)...].split(separator: "&", omittingEmptySubsequences: false).map { parameter in
            parameter.lowercased().hasPrefix("password=") ? "password=***" : String(parameter)
        }
        return String(result[...query]) + parameters.joined(separator: "&")
    }
}

/// One group of an engine's connections, for the metrics.
public struct ConnectionUse: Sendable, Equatable {
    /// `log_writer`, `log_reader`, `keyring` (SQLite) or `pool` (PostgreSQL).
    public let role: String
    public let size: Int
    public let busy: Int
    public let waiting: Int

    public init(role: String, size: Int, busy: Int, waiting: Int) {
        self.role = role
        self.size = size
        self.busy = busy
        self.waiting = waiting
    }
}

/// A data key as the keyring stores it: wrapped by the master key whose id it records.
public struct WrappedDataKey: Sendable, Equatable {
    public let accountID: String
    public let version: UInt32
    public let wrapped: [UInt8]
    /// The id of the master key that wrapped it (`MasterKey.id`); nil only for keys written
    /// before ids were recorded, until a process holding the key adopts them.
    public let masterKeyID: String?
    public let createdAt: Timestamp
    /// Seals handed out under this key so far (reserved in blocks: an upper bound).
    public let seals: Int64

    public init(accountID: String, version: UInt32, wrapped: [UInt8], masterKeyID: String?, createdAt: Timestamp, seals: Int64) {
        self.accountID = accountID
        self.version = version
        self.wrapped = wrapped
        self.masterKeyID = masterKeyID
        self.createdAt = createdAt
        self.seals = seals
    }
}

/// The keyring's record of its master key: the check value sealed by the key it is under and,
/// during a rotation, by the key it is moving to.
public struct MasterKeyState: Sendable, Equatable {
    /// nil only in a keyring written before ids were recorded.
    public let keyID: String?
    public let sealed: [UInt8]
    public let nextKeyID: String?
    public let nextSealed: [UInt8]?

    public init(keyID: String?, sealed: [UInt8], nextKeyID: String? = nil, nextSealed: [UInt8]? = nil) {
        self.keyID = keyID
        self.sealed = sealed
        self.nextKeyID = nextKeyID
        self.nextSealed = nextSealed
    }

    /// The master key new data keys are wrapped with: the rotation's target while one runs.
    public var targetKeyID: String? { nextKeyID ?? keyID }
}

/// The keyring's table operations. Wrapping and unwrapping stay in `DataKeyring` (the domain):
/// an engine stores and deletes opaque wrapped keys and never sees the master key.
///
/// Invariants every engine keeps:
/// * once `destroyKeys` has returned, no `insertGenerations` that commits afterwards stores a
///   body sealed with one of the destroyed keys — the check runs inside the insert's own
///   transaction, ordered against the destruction (SQLite: the writer's lock covers the
///   attached keyring; PostgreSQL: the insert holds a share lock on the key row, which the
///   destruction's delete must wait for);
/// * a data key row is only ever replaced whole (`rewrap`), so it is always wrapped by the
///   master key its `masterKeyID` names — never by neither key during a rotation;
/// * a new data key is wrapped by the keyring's target master key, read in the same
///   transaction as the insert, so no key wrapped by a retired master key appears after a
///   rotation finished;
/// * `seals` only grows, and a reservation and the insert of a newer key exclude each other.
public protocol KeyStore: Sendable {
    /// The keyring's master-key record; when it has none yet, stores `make()` first (once,
    /// even with several processes starting at the same time) and returns what is stored.
    func masterKeyState(orStore make: @Sendable () throws -> MasterKeyState, at time: Timestamp) async throws -> MasterKeyState
    /// The keyring's master-key record, nil before its first use (reads only).
    func masterKeyState() async throws -> MasterKeyState?
    /// Records `keyID` on a keyring written before ids were recorded: on its check value and
    /// every data key without one (all of them were wrapped by that key).
    func adoptMasterKeyID(_ keyID: String) async throws
    /// Starts (or resumes) a rotation from `from` to `state.nextKeyID`; returns the state after.
    /// Changes nothing when the keyring is not under `from` or already moving to another key.
    func beginMasterKeyRotation(from: String, to next: String, nextSealed: [UInt8]) async throws -> MasterKeyState
    /// Up to `limit` data keys not wrapped by `keyID`, in a stable order.
    func keys(notWrappedBy keyID: String, limit: Int) async throws -> [WrappedDataKey]
    /// How many data keys are not wrapped by `keyID`.
    func keyCount(notWrappedBy keyID: String) async throws -> Int
    /// Replaces each key's wrapped bytes with `rewrapped[i]` (wrapped by `keyID`), in one
    /// transaction, each only if the row is still as `keys[i]` describes it (same master key
    /// id); returns how many were replaced.
    func rewrap(_ keys: [WrappedDataKey], as rewrapped: [[UInt8]], by keyID: String) async throws -> Int
    /// Ends the rotation to `keyID`: in one transaction, if every data key is wrapped by it,
    /// makes it the keyring's key and forgets the old one's check value. False when keys remain.
    func finishMasterKeyRotation(to keyID: String) async throws -> Bool
    /// Scrubs key rows as they were before `rewrap` replaced them from the engine's files, as
    /// `destroyKeys` does for destroyed ones (SQLite: the WAL; PostgreSQL: VACUUM).
    func scrubReplacedKeys() async throws
    /// The newest key of the account, nil if it has none.
    func newestKey(accountID: String) async throws -> WrappedDataKey?
    /// Adds `count` to the seals of the account's key `version` if it is still the newest key,
    /// was created after `createdAfter`, and stays within `limit`; false otherwise.
    func reserveSeals(accountID: String, version: UInt32, count: Int64, limit: Int64, createdAfter: Timestamp) async throws -> Bool
    /// Stores a new newest key for the account when its newest key is still `replacing` (nil:
    /// it has none): `make(version, target)` builds it, at the version after every existing or
    /// destroyed one (a fresh key never reuses a destroyed version), wrapped by the keyring's
    /// target master key, with its first block of seals already counted. Returns nil when
    /// another process got there first (the caller reads the newest key again).
    func createKey(
        accountID: String,
        replacing: UInt32?,
        make: @Sendable (_ version: UInt32, _ targetMasterKeyID: String?) throws -> WrappedDataKey
    ) async throws -> WrappedDataKey?
    /// Key `version` of the account; nil when destroyed or never made.
    func key(accountID: String, version: UInt32) async throws -> WrappedDataKey?
    /// Every wrapped key of the account, oldest first (for erasure checks).
    func wrappedKeys(accountID: String) async throws -> [[UInt8]]
    /// How many keys the account has now.
    func keyCount(accountID: String) async throws -> Int
    /// Crypto-shredding: deletes every key of the account, remembering only the versions, and
    /// scrubs the deleted keys from the engine's files (see `LogStore.scrubErasedResidue`).
    /// Returns how many keys were destroyed.
    func destroyKeys(accountID: String, at time: Timestamp) async throws -> Int
}
