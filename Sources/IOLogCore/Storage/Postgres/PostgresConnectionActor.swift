/// Owns one PostgreSQL connection on a dedicated thread, like `DatabaseActor` does for SQLite.
///
/// The connection opens on that thread at first use, so creating the actor does no network
/// I/O, and libpq's blocking calls (connecting, waiting on the server) never occupy a NIO
/// event loop or a thread of Swift's cooperative pool. Callers pass a closure in and get a
/// `Sendable` value back, so the connection never leaves its thread.
public actor PostgresConnectionActor {
    private let executor: DedicatedThreadExecutor
    private let url: String
    private var connection: PostgresConnection?

    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    /// Starts the thread; the connection to `url` opens on the first `run`.
    /// - Parameter name: names the thread, for debuggers and `top -H`.
    public init(url: String, name: String = "postgres") {
        self.url = url
        self.executor = DedicatedThreadExecutor(name: name)
    }

    /// Runs `body` with the connection, opening it first if needed and reconnecting it if the
    /// server dropped it since the last use.
    ///
    /// A transaction `body` leaves open (an explicit BEGIN without COMMIT) is rolled back, so
    /// the next caller starts clean.
    /// - Throws: `PostgresError` 08000 when the server cannot be reached, or what `body` threw.
    public func run<T: Sendable>(_ body: @Sendable (PostgresConnection) throws -> T) throws -> T {
        let connection = try openConnection()
        defer {
            if connection.isInTransaction { try? connection.executeScript("ROLLBACK") }
        }
        return try body(connection)
    }

    /// True when the actor's work runs on its dedicated thread (for tests).
    func runsOnOwnThread() -> Bool { executor.isCurrentThread }

    /// Ends the connection and stops the thread once queued work is done. The actor cannot be
    /// used afterwards: work sent to it would never run.
    public func close() {
        connection?.close()
        connection = nil
        executor.shutdown()
    }

    private func openConnection() throws(PostgresError) -> PostgresConnection {
        guard let connection else {
            let opened = try PostgresConnection(url: url)
            connection = opened
            return opened
        }
        connection.refreshStatus()
        if connection.isBroken { try connection.reset() }
        return connection
    }
}
