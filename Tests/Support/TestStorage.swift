import Foundation
import IOLogCore
import Synchronization

/// The storage engine the test suite runs against, for every test that opens one.
///
/// SQLite in the test's data folder by default. With `IOLOG_TEST_DATABASE_URL` set to a
/// PostgreSQL server (`scripts/test` starts a throwaway cluster and runs the whole suite a
/// second time with it), each data folder gets a database of its own on that server, created
/// on first use and found again when the same folder is reopened.
public enum TestStorage {
    /// The variable `scripts/test` sets for the PostgreSQL run.
    public static let databaseURLVariable = "IOLOG_TEST_DATABASE_URL"

    /// The server's URL, when this run is against PostgreSQL.
    public static var serverURL: String? {
        ProcessInfo.processInfo.environment[databaseURLVariable].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The PostgreSQL cluster's data directory (`IOLOG_TEST_POSTGRES_DATA`), for tests that
    /// search the server's files; nil on SQLite.
    public static var clusterDirectory: String? {
        guard isPostgres else { return nil }
        return ProcessInfo.processInfo.environment["IOLOG_TEST_POSTGRES_DATA"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The files of the PostgreSQL cluster that can hold what `engine` wrote since `since`:
    /// its database's own folder (tables, TOAST, indexes) and the WAL segments written since
    /// then. Searching these is searching everything the server stored for the test.
    public static func clusterFiles(of engine: any StorageEngine, since: Date) async throws -> [String] {
        guard let cluster = clusterDirectory, let url = postgresURL(of: engine) else { return [] }
        let connection = PostgresConnectionActor(url: url, name: "test files")
        defer { Task { await connection.close() } }
        let oid = try await connection.run { c in
            try c.executeScript("CHECKPOINT")
            return try c.execute("SELECT oid::int8 FROM pg_database WHERE datname = current_database()").first?.int64(0) ?? 0
        }
        var files: [String] = []
        let database = cluster + "/base/\(oid)"
        for name in try FileManager.default.contentsOfDirectory(atPath: database) { files.append(database + "/" + name) }
        let wal = cluster + "/pg_wal"
        for name in try FileManager.default.contentsOfDirectory(atPath: wal) {
            let path = wal + "/" + name
            let modified = try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date
            if let modified, modified >= since.addingTimeInterval(-2) { files.append(path) }
        }
        return files
    }

    public static var isSQLite: Bool { serverURL == nil }
    public static var isPostgres: Bool { serverURL != nil }

    /// The PostgreSQL database of `folder` in this run: the same name whenever it is reopened.
    static func databaseName(for folder: DataFolder) -> String {
        "t_" + String(folder.path.stableHash, radix: 36)
    }

    /// Where the data of `folder` lives in this run (creating its PostgreSQL database if needed).
    public static func location(for folder: DataFolder) async throws -> StorageLocation {
        guard let server = serverURL else { return .sqlite(folder) }
        let name = databaseName(for: folder)
        try await PostgresAdmin.shared.createDatabaseIfMissing(name, serverURL: server)
        return .postgres(url: PostgresAdmin.url(server, database: name), connections: 4)
    }

    /// Opens and migrates the engine for `folder`.
    public static func open(_ folder: DataFolder) async throws -> any StorageEngine {
        let engine = try await location(for: folder).open()
        do {
            try await engine.migrate()
        } catch {
            await engine.close()
            throw error
        }
        return engine
    }

    /// Opens the engine for `folder`, runs `body`, closes it (also when `body` throws).
    public static func with<T>(_ folder: DataFolder, _ body: (any StorageEngine) async throws -> T) async throws -> T {
        let engine = try await open(folder)
        do {
            let result = try await body(engine)
            await engine.close()
            return result
        } catch {
            await engine.close()
            throw error
        }
    }
}

/// Creates the per-folder databases of the PostgreSQL run, one at a time, through a connection
/// on a thread of its own (never blocking the cooperative pool the tests run on).
actor PostgresAdmin {
    static let shared = PostgresAdmin()

    /// Databases made in this process.
    static let created = Mutex<Set<String>>([])
    private var connection: PostgresConnectionActor?

    /// `server` (a URL ending in `/DATABASE`) with its database replaced by `database`.
    static func url(_ server: String, database: String) -> String {
        guard let slash = server.lastIndex(of: "/") else { return server }
        return String(server[...slash]) + database
    }

    func createDatabaseIfMissing(_ name: String, serverURL: String) async throws {
        guard !Self.created.withLock({ $0.contains(name) }) else { return }
        let connection = self.connection ?? PostgresConnectionActor(url: serverURL, name: "test admin")
        self.connection = connection
        try await connection.run { c in
            if try c.execute("SELECT 1 FROM pg_database WHERE datname = $1", [.text(name)]).first == nil {
                try c.executeScript("CREATE DATABASE \(name)")
            }
        }
        Self.created.withLock { _ = $0.insert(name) }
    }
}

extension DataFolder {
    /// The engine under test over this folder, opened and migrated.
    public func openEngine() async throws -> any StorageEngine {
        try await TestStorage.open(self)
    }
}

extension StorageEngine {
    /// A keyring over this engine's keys, its master key verified.
    public func keyring(masterKey: MasterKey) async throws -> DataKeyring {
        try await DataKeyring.open(keys: keys, masterKey: masterKey)
    }

    /// The SQLite log store, when this is the SQLite engine (for tests of SQLite's own files).
    public var sqlite: SQLiteStore? { (self as? SQLiteEngine)?.sqliteStore }
}

/// Raw SQL for the few tests that must reach past the storage protocol (to tamper with a row,
/// or move one back in time): the same literal statement runs on either engine, on SQLite
/// through the store's own connection and on PostgreSQL through `psql`.
public enum TestSQL {
    /// Runs `sql` (no parameters; values are literals the test controls) and returns every row's
    /// columns as text.
    @discardableResult
    public static func rows(_ engine: any StorageEngine, _ sql: String) async throws -> [[String]] {
        if let store = engine.sqlite {
            return try await store.withDatabase { db in
                let statement = try db.prepare(sql)
                var rows: [[String]] = []
                while try statement.step() {
                    let row = Row(statement: statement)
                    rows.append((0..<statement.columnCount).map { row.optionalText($0) ?? "" })
                }
                return rows
            }
        }
        guard let url = postgresURL(of: engine) else { return [] }
        let connection = PostgresConnectionActor(url: url, name: "test sql")
        defer { Task { await connection.close() } }
        return try await connection.run { c in
            try c.executeScript("SET search_path = iolog, iolog_keyring")
            return try c.execute(sql).rows.map { row in
                row.values.map { value -> String in
                    switch value {
                    case .null: ""
                    case .integer(let number): String(number)
                    case .real(let number): String(number)
                    case .text(let text): text
                    case .blob(let bytes): bytes.map { String(format: "%02x", $0) }.joined()
                    }
                }
            }
        }
    }
}

/// The connection URL of a PostgreSQL engine; nil for SQLite.
func postgresURL(of engine: any StorageEngine) -> String? { (engine as? PostgresEngine)?.url }

/// Searching what the engine wrote, for tests that prove a secret never reached disk.
public enum StoredFiles {
    /// Every file below `folder` (when it exists) and, on PostgreSQL, the cluster files that can
    /// hold what `engine` wrote since `since` (`TestStorage.clusterFiles`).
    public static func paths(folder: String, engine: any StorageEngine, since: Date) async throws -> [String] {
        var paths = ((try? FileManager.default.subpathsOfDirectory(atPath: folder)) ?? []).map { folder + "/" + $0 }
        paths += try await TestStorage.clusterFiles(of: engine, since: since)
        return paths
    }

    /// True when the file at `path` holds `needle` anywhere (memmem over the mapped file).
    public static func file(_ path: String, contains needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, let data = try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) else { return false }
        return data.withUnsafeBytes { haystack in needle.withUnsafeBytes { pattern in findBytes(haystack, pattern) } }
    }
}

/// Where `needle` starts in `haystack`, found with memchr and memcmp (fast even in a debug build).
public func findBytes(_ haystack: UnsafeRawBufferPointer, _ needle: UnsafeRawBufferPointer) -> Bool {
    guard let base = haystack.baseAddress, let pattern = needle.baseAddress, needle.count > 0, needle.count <= haystack.count else {
        return false
    }
    let first = Int32(needle[0])
    var offset = 0
    let last = haystack.count - needle.count
    while offset <= last {
        guard let hit = memchr(base + offset, first, last - offset + 1) else { return false }
        let position = base.distance(to: UnsafeRawPointer(hit))
        if memcmp(base + position, pattern, needle.count) == 0 { return true }
        offset = position + 1
    }
    return false
}

/// A child process started with `posix_spawn`, for tests that run `iolog` and `psql`.
///
/// Not Foundation's `Process`: on Linux its `run()` reads past a buffer while listing
/// `/proc/self/fd` and crashes intermittently (swift-corelibs-foundation PR #5472), which a
/// suite that starts hundreds of processes hits every few runs.
public final class ChildProcess: @unchecked Sendable {
    // `pid` is fixed; `exit` is only touched under `lock`.
    public let processIdentifier: pid_t
    private let lock = NSLock()
    private var exit: Int32?

    /// Starts `executable` with `arguments` and `environment`; standard output and error go to
    /// the files at those paths (created or truncated), or to /dev/null when nil.
    public init(
        executable: String,
        arguments: [String],
        environment: [String: String],
        standardOutput: String? = nil,
        standardError: String? = nil
    ) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, standardOutput ?? "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, standardError ?? "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid = pid_t()
        let status = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        guard status == 0 else {
            throw CocoaError(
                .executableLoad,
                userInfo: [NSLocalizedDescriptionKey: "posix_spawn \(executable): \(String(cString: strerror(status)))"]
            )
        }
        processIdentifier = pid
    }

    /// Waits for the process to end; its wait status (see `terminationStatus`).
    @discardableResult
    public func waitUntilExit() -> Int32 {
        lock.lock()
        defer { lock.unlock() }
        if let exit { return exit }
        var status: Int32 = 0
        while waitpid(processIdentifier, &status, 0) < 0 && errno == EINTR {}
        exit = status
        return status
    }

    /// Waits for the process to end on a thread of its own, so a test awaiting a long command
    /// does not hold one of the cooperative pool's few threads (the server under test needs
    /// them to accept connections and keep its deadlines).
    @discardableResult
    public func exited() async -> Int32 {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: self.waitUntilExit()) }.start()
        }
    }

    /// True until the process has ended (reaps it when it has).
    public var isRunning: Bool {
        lock.lock()
        defer { lock.unlock() }
        guard exit == nil else { return false }
        var status: Int32 = 0
        guard waitpid(processIdentifier, &status, WNOHANG) == processIdentifier else { return true }
        exit = status
        return false
    }

    /// SIGTERM, as `Process.terminate()`.
    public func terminate() { kill(processIdentifier, SIGTERM) }

    /// The exit code, or the number of the signal that ended it.
    public var terminationStatus: Int32 {
        let status = waitUntilExit()
        return status & 0x7f == 0 ? (status >> 8) & 0xff : status & 0x7f
    }

    /// True when a signal ended the process.
    public var endedBySignal: Bool {
        let status = waitUntilExit()
        return status & 0x7f != 0 && status & 0x7f != 0x7f
    }
}
