import Synchronization

/// Owns one SQLite connection on a dedicated thread.
///
/// Callers pass a closure in and get a `Sendable` value back (`write { db in … }`),
/// so the connection never leaves the thread that owns it.
public actor DatabaseActor {
    private let executor: DedicatedThreadExecutor
    private let database: Database
    /// Calls running or waiting for the connection (the metrics' connection gauges).
    private let calls = Atomic<Int>(0)

    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    /// Opens the database at `path`; `name` names the connection's thread.
    /// - Parameter keyring: a keyring file to attach as schema `keyring`, so a transaction here
    ///   can check a data key still exists (see `SQLiteStore.insertGenerations`).
    public init(path: String, name: String, keyring: String? = nil, automaticCheckpoints: Bool = true) throws {
        let database = try Database(path: path)
        if !automaticCheckpoints {
            try database.execute("PRAGMA wal_autocheckpoint = 0")
            // After the log starts over, its file is cut back to 64 MiB.
            try database.execute("PRAGMA journal_size_limit = 67108864")
        }
        if let keyring { _ = try database.execute("ATTACH DATABASE ? AS keyring", keyring) }
        self.database = database
        self.executor = DedicatedThreadExecutor(name: "sqlite \(name)")
    }

    /// Opens the database at `path`, then applies `migrations` that are not applied yet.
    public init(path: String, migrations: MigrationSet) throws {
        let database = try Database(path: path)
        try migrations.apply(to: database)
        self.database = database
        self.executor = DedicatedThreadExecutor(name: "sqlite \(migrations.name)")
    }

    /// Runs `body` in an immediate transaction; commits when it returns.
    @discardableResult
    public nonisolated func write<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T {
        calls.add(1, ordering: .relaxed)
        defer { calls.subtract(1, ordering: .relaxed) }
        return try await inTransaction(body)
    }

    /// Runs `body` with the connection, outside any explicit transaction.
    public nonisolated func read<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T {
        calls.add(1, ordering: .relaxed)
        defer { calls.subtract(1, ordering: .relaxed) }
        return try await withConnection(body)
    }

    /// Calls running on the connection (0 or 1) and waiting for it.
    public nonisolated var use: (busy: Int, waiting: Int) {
        let calls = calls.load(ordering: .relaxed)
        return (min(calls, 1), max(calls - 1, 0))
    }

    private func inTransaction<T: Sendable>(_ body: @Sendable (Database) throws -> T) throws -> T {
        try database.transaction { try body(database) }
    }

    private func withConnection<T: Sendable>(_ body: @Sendable (Database) throws -> T) throws -> T {
        try body(database)
    }

    /// True when the actor's work runs on its dedicated thread (for tests).
    func runsOnOwnThread() -> Bool { executor.isCurrentThread }

    /// Stops the connection's thread once queued work is done.
    public func close() {
        executor.shutdown()
    }
}
