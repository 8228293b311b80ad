import Synchronization

/// A fixed set of PostgreSQL connections, each on its own thread, lent to one caller at a time.
///
/// Creating the pool connects to nothing: each connection opens on its own thread at first
/// use. A caller that finds every connection busy suspends (it blocks no thread) until one is
/// returned; waiters are served first come, first served.
public final class PostgresPool: Sendable {
    /// Waiting callers and connections nobody holds; only touched under the lock.
    private struct State {
        /// Indexes into `connections` that are free.
        var free: [Int]
        /// Callers waiting for a connection, oldest first.
        var waiters: [Waiter] = []
        /// Waiters cancelled before they were queued (the cancellation handler ran first).
        var cancelled: Set<UInt64> = []
        var nextWaiterID: UInt64 = 0
        var closed = false
    }

    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Int, any Error>
    }

    private let connections: [PostgresConnectionActor]
    private let state: Mutex<State>

    /// A pool of `size` connections (at least one) to `url`.
    public init(url: String, size: Int) {
        let size = max(size, 1)
        self.connections = (0..<size).map { PostgresConnectionActor(url: url, name: "postgres \($0)") }
        self.state = Mutex(State(free: Array((0..<size).reversed())))
    }

    /// How many connections the pool holds.
    public var size: Int { connections.count }

    /// Connections in use and callers waiting for one (the metrics' connection gauges).
    public var use: (busy: Int, waiting: Int) {
        state.withLock { (connections.count - $0.free.count, $0.waiters.count) }
    }

    /// Runs `body` on a free connection, waiting for one if all are busy.
    /// - Throws: `PostgresError` 08003 once the pool is closed, `CancellationError` if the task
    ///   is cancelled while waiting, or what the connection or `body` threw.
    public func withConnection<T: Sendable>(_ body: @Sendable (PostgresConnection) throws -> T) async throws -> T {
        let index = try await acquire()
        defer { release(index) }
        return try await connections[index].run(body)
    }

    /// `transaction`, run again after a short random pause when the server reports a
    /// serialization failure or breaks a deadlock (40001, 40P01), up to `attempts` more times.
    public func retryingTransaction<T: Sendable>(attempts: Int = 5, _ body: @Sendable (PostgresConnection) throws -> T) async throws -> T {
        var attempt = 0
        while true {
            do {
                return try await transaction(body)
            } catch let error as PostgresError where error.isSerializationFailure && attempt < attempts {
                attempt += 1
                try await Task.sleep(for: .milliseconds(Int.random(in: 1...(5 << attempt))))
            }
        }
    }

    /// Runs `body` in a transaction on a free connection; commits if it returns, rolls back if
    /// it throws.
    @discardableResult
    public func transaction<T: Sendable>(_ body: @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await withConnection { connection in
            try connection.transaction { try body(connection) }
        }
    }

    /// Refuses new work, waits for the connections in use to come back, then closes every
    /// connection and stops its thread. Calling it again does nothing.
    public func close() async {
        let waiters = state.withLock { state -> [Waiter]? in
            guard !state.closed else { return nil }
            state.closed = true
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        guard let waiters else { return }
        for waiter in waiters { waiter.continuation.resume(throwing: Self.closedError) }
        for _ in connections {
            // Closing takes each connection like a caller would, so none closes under a holder.
            // Nothing resumes a closing waiter with an error, so `try?` never discards one.
            let index = try? await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int, any Error>) in
                let index = state.withLock { state -> Int? in
                    if let index = state.free.popLast() { return index }
                    state.waiters.append(Waiter(id: UInt64.max, continuation: continuation))
                    return nil
                }
                if let index { continuation.resume(returning: index) }
            }
            guard let index else { continue }
            await connections[index].close()
        }
    }

    private static let closedError = PostgresError(sqlState: "08003", message: "the connection pool is closed")

    /// Takes a free connection's index, suspending until one is released.
    private func acquire() async throws -> Int {
        let id = state.withLock { state in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        // A cancellation that lands after the waiter was served leaves its id behind; drop it.
        defer { state.withLock { _ = $0.cancelled.remove(id) } }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int, any Error>) in
                let outcome = state.withLock { state -> Result<Int, any Error>? in
                    if state.closed { return .failure(Self.closedError) }
                    if state.cancelled.remove(id) != nil { return .failure(CancellationError()) }
                    if let index = state.free.popLast() { return .success(index) }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard let position = state.waiters.firstIndex(where: { $0.id == id }) else {
                    state.cancelled.insert(id)
                    return nil
                }
                return state.waiters.remove(at: position)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Hands connection `index` to the oldest waiter, or marks it free.
    private func release(_ index: Int) {
        let waiter = state.withLock { state -> Waiter? in
            guard state.waiters.isEmpty else { return state.waiters.removeFirst() }
            state.free.append(index)
            return nil
        }
        waiter?.continuation.resume(returning: index)
    }
}
