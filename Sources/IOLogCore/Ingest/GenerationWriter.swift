import Synchronization

/// Funnels every ingest through one writer that shares commits between concurrent requests.
///
/// A request hands its sealed rows over and waits. Whenever no commit is in flight, the writer
/// takes everything queued (up to `maximumRowsPerCommit`) and commits it in one transaction,
/// then answers each waiting request. While one commit is being fsynced, new requests pile up
/// and go into the next one, so the number of fsyncs follows the disk, not the request rate,
/// and an idle writer adds no delay. The queue is bounded: when full, `submit` throws
/// `overloaded` at once instead of growing without bound.
public final class GenerationWriter: Sendable {
    /// Thrown when the queue is full; the HTTP layer answers 503 with `Retry-After`.
    public struct Overloaded: Error, Sendable {}

    private struct Submission {
        let rows: [SealedGeneration]
        let continuation: CheckedContinuation<[InsertOutcome], any Error>
    }

    private struct State {
        var queue: [Submission] = []
        var queuedRows = 0
        var draining = false
    }

    private let store: any LogStore
    private let capacity: Int
    private let maximumRowsPerCommit: Int
    private let state = Mutex(State())
    private let commits = Atomic<Int>(0)
    private let committedRows = Atomic<Int>(0)
    private let metrics: ServiceMetrics

    /// - Parameters:
    ///   - capacity: rows that may wait for a commit before `submit` refuses more.
    ///   - maximumRowsPerCommit: the most rows one transaction takes (a larger submission still goes whole).
    public init(store: any LogStore, capacity: Int = 20_000, maximumRowsPerCommit: Int = 2_000, metrics: ServiceMetrics = .disabled) {
        self.store = store
        self.metrics = metrics
        self.capacity = capacity
        self.maximumRowsPerCommit = maximumRowsPerCommit
    }

    /// Commits performed so far.
    public var commitCount: Int { commits.load(ordering: .relaxed) }
    /// Rows handed to those commits.
    public var committedRowCount: Int { committedRows.load(ordering: .relaxed) }
    /// Rows waiting for a commit now.
    public var queueDepth: Int { state.withLock { $0.queuedRows } }

    /// Stores `rows` and returns, in order, what happened to each, once their commit is durable.
    public func submit(_ rows: [SealedGeneration]) async throws -> [InsertOutcome] {
        guard !rows.isEmpty else { return [] }
        return try await withCheckedThrowingContinuation { continuation in
            enum Next { case refuse, start, wait }
            let next = state.withLock { state -> Next in
                // An empty queue always accepts, so one submission larger than the capacity still goes through.
                guard state.queuedRows == 0 || state.queuedRows + rows.count <= capacity else { return .refuse }
                state.queue.append(Submission(rows: rows, continuation: continuation))
                state.queuedRows += rows.count
                if state.draining { return .wait }
                state.draining = true
                return .start
            }
            switch next {
            case .refuse: continuation.resume(throwing: Overloaded())
            case .wait: break
            case .start: Task { await drain() }
            }
        }
    }

    private func drain() async {
        while true {
            let batch = state.withLock { state -> [Submission] in
                var count = 0
                var rows = 0
                while count < state.queue.count,
                    count == 0 || rows + state.queue[count].rows.count <= maximumRowsPerCommit
                {
                    rows += state.queue[count].rows.count
                    count += 1
                }
                let taken = Array(state.queue.prefix(count))
                state.queue.removeFirst(count)
                state.queuedRows -= rows
                if taken.isEmpty { state.draining = false }
                return taken
            }
            if batch.isEmpty { return }
            let rows = batch.flatMap(\.rows)
            do {
                let started = ContinuousClock.now
                let outcomes = try await store.insertGenerations(rows)
                metrics.committed(rows: rows.count, duration: ContinuousClock.now - started)
                commits.add(1, ordering: .relaxed)
                committedRows.add(rows.count, ordering: .relaxed)
                var offset = 0
                for submission in batch {
                    submission.continuation.resume(returning: Array(outcomes[offset..<(offset + submission.rows.count)]))
                    offset += submission.rows.count
                }
            } catch {
                for submission in batch { submission.continuation.resume(throwing: error) }
            }
        }
    }
}
