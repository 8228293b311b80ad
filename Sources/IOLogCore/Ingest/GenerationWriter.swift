import Synchronization

/// Funnels every ingest through one group commit (`GroupCommit`): concurrent requests share
/// transactions, so the number of fsyncs follows the disk, not the request rate. The queue is
/// bounded: when full, `submit` throws `overloaded` at once instead of growing without bound.
public final class GenerationWriter: Sendable {
    /// Thrown when the queue is full; the HTTP layer answers 503 with `Retry-After`.
    public typealias Overloaded = CommitQueueFull

    private final class Counts: Sendable {
        let commits = Atomic<Int>(0)
        let rows = Atomic<Int>(0)
    }

    private let counts = Counts()
    private let group: GroupCommit<SealedGeneration, InsertOutcome>

    /// - Parameters:
    ///   - capacity: rows that may wait for a commit before `submit` refuses more.
    ///   - maximumRowsPerCommit: the most rows one transaction takes (a larger submission still goes whole).
    public init(store: any LogStore, capacity: Int = 20_000, maximumRowsPerCommit: Int = 2_000, metrics: ServiceMetrics = .disabled) {
        let counts = counts
        group = GroupCommit(capacity: capacity, maximumItemsPerCommit: maximumRowsPerCommit) { rows in
            let started = ContinuousClock.now
            let outcomes = try await store.insertGenerations(rows)
            metrics.committed(rows: rows.count, duration: ContinuousClock.now - started)
            counts.commits.add(1, ordering: .relaxed)
            counts.rows.add(rows.count, ordering: .relaxed)
            return outcomes
        }
    }

    /// Commits performed so far.
    public var commitCount: Int { counts.commits.load(ordering: .relaxed) }
    /// Rows handed to those commits.
    public var committedRowCount: Int { counts.rows.load(ordering: .relaxed) }
    /// Rows waiting for a commit now.
    public var queueDepth: Int { group.queueDepth }

    /// Stores `rows` and returns, in order, what happened to each, once their commit is durable.
    public func submit(_ rows: [SealedGeneration]) async throws -> [InsertOutcome] {
        try await group.submit(rows)
    }
}
