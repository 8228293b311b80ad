import IOLogCore

/// What `buildApplication` needs; `iolog serve` and the tests both provide it.
public protocol AppArguments: Sendable {
    /// Address to listen on, e.g. `127.0.0.1`.
    var hostname: String { get }
    /// Port to listen on.
    var port: Int { get }
    /// The data folder (the SQLite databases, the development master key).
    var dataFolder: DataFolder { get }
    /// Where the data lives: the data folder's SQLite (the default) or PostgreSQL.
    var storage: StorageLocation { get }
    /// The key that unwraps the accounts' data keys.
    var masterKey: MasterKey { get }
    /// During a master-key rotation, the key being moved away from (`--previous-master-key-file`).
    var previousMasterKey: MasterKey? { get }
    /// When an account's data key is replaced for new writes.
    var keyRollover: KeyRolloverPolicy { get }
    /// Regions skipped besides `eu` (`--skip-region`).
    var extraSkippedRegions: [String] { get }
    /// The largest request body accepted (`--max-body-bytes`).
    var maximumBodyBytes: Int { get }
    /// Request-body bytes held at once by the whole server (`--max-body-bytes-in-flight`).
    var bodyBudgetBytes: Int { get }
    /// Rows that may wait for a commit before ingest answers 503.
    var ingestQueueCapacity: Int { get }
    /// Where the service reads the time.
    var clock: Clock { get }
    /// How long generations are kept (`--retention-months`).
    var retention: RetentionPolicy { get }
    /// How often the retention purge runs; nil turns the periodic purge off (tests).
    var retentionInterval: Duration? { get }
    /// Slow-client protection: header and body deadlines, idle timeout, connection cap.
    var connectionLimits: ConnectionLimits { get }
    /// Failed authentications one client address may make before they are answered 429.
    var authFailurePolicy: AuthFailurePolicy { get }
}

extension AppArguments {
    public var storage: StorageLocation { .sqlite(dataFolder) }
    public var previousMasterKey: MasterKey? { nil }
    public var keyRollover: KeyRolloverPolicy { .default }
    public var extraSkippedRegions: [String] { [] }
    public var maximumBodyBytes: Int { AppDefaults.maximumBodyBytes }
    public var bodyBudgetBytes: Int { AppDefaults.bodyBudgetBytes }
    public var ingestQueueCapacity: Int { AppDefaults.ingestQueueCapacity }
    public var clock: Clock { .system }
    public var retention: RetentionPolicy { .default }
    public var retentionInterval: Duration? { AppDefaults.retentionInterval }
    public var connectionLimits: ConnectionLimits { .default }
    public var authFailurePolicy: AuthFailurePolicy { .default }
}

/// Defaults shared by the command line and the tests.
public enum AppDefaults {
    /// 16 MiB, DESIGN §4.1.
    public static let maximumBodyBytes = 16 * 1024 * 1024
    /// The largest `--max-body-bytes` accepted: a body is held in memory whole, and parsed and
    /// sealed in one piece.
    public static let maximumBodyBytesCeiling = 256 * 1024 * 1024
    /// Request-body bytes in flight across the server: 64 MiB, four of the largest default
    /// bodies at once, more than two cores can parse and seal at a time. A body costs about
    /// three times its size while it is parsed and sealed, so this keeps the service well
    /// inside 256 MiB.
    public static let bodyBudgetBytes = 64 * 1024 * 1024
    /// Rows waiting for a commit before ingest pushes back with 503.
    public static let ingestQueueCapacity = 20_000
    /// The periodic retention purge: hourly (the first run a minute after start).
    public static let retentionInterval: Duration = .seconds(3600)
}
