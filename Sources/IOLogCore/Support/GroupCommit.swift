import Synchronization

/// Thrown when a `GroupCommit` queue is full; the HTTP layer answers 503 with `Retry-After`.
public struct CommitQueueFull: Error, Sendable {
    public init() {}
}

/// Shares durable commits between concurrent callers (group commit).
///
/// A caller hands its items over and waits. Whenever no commit is in flight, the committer takes
/// everything queued (up to `maximumItemsPerCommit`) and commits it in one transaction, then
/// answers each waiting caller with the outcomes of its own items. While one commit is being
/// fsynced, new items pile up and go into the next one, so the number of fsyncs follows the
/// disk, not the request rate, and an idle committer adds no delay. The queue is bounded: when
/// full, `submit` throws `Overloaded` at once instead of growing without bound.
public final class GroupCommit<Item: Sendable, Outcome: Sendable>: Sendable {
    public typealias Overloaded = CommitQueueFull

    private struct Submission {
        let items: [Item]
        let continuation: CheckedContinuation<[Outcome], any Error>
    }

    private struct State {
        var queue: [Submission] = []
        var queuedItems = 0
        var draining = false
    }

    private let commit: @Sendable ([Item]) async throws -> [Outcome]
    private let capacity: Int
    private let maximumItemsPerCommit: Int
    private let state = Mutex(State())

    /// - Parameters:
    ///   - capacity: items that may wait for a commit before `submit` refuses more.
    ///   - maximumItemsPerCommit: the most items one commit takes (a larger submission still goes whole).
    ///   - commit: stores the items durably in one transaction; returns one outcome per item, in order.
    public init(capacity: Int, maximumItemsPerCommit: Int, commit: @escaping @Sendable ([Item]) async throws -> [Outcome]) {
        self.capacity = capacity
        self.maximumItemsPerCommit = maximumItemsPerCommit
        self.commit = commit
    }

    /// Items waiting for a commit now.
    public var queueDepth: Int { state.withLock { $0.queuedItems } }

    /// Commits `items` and returns, in order, what happened to each, once their commit is durable.
    public func submit(_ items: [Item]) async throws -> [Outcome] {
        guard !items.isEmpty else { return [] }
        return try await withCheckedThrowingContinuation { continuation in
            let next = state.withLock { state -> SubmitStep in
                // An empty queue always accepts, so one submission larger than the capacity still goes through.
                guard state.queuedItems == 0 || state.queuedItems + items.count <= capacity else { return .refuse }
                state.queue.append(Submission(items: items, continuation: continuation))
                state.queuedItems += items.count
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
                var items = 0
                while count < state.queue.count,
                    count == 0 || items + state.queue[count].items.count <= maximumItemsPerCommit
                {
                    items += state.queue[count].items.count
                    count += 1
                }
                let taken = Array(state.queue.prefix(count))
                state.queue.removeFirst(count)
                state.queuedItems -= items
                if taken.isEmpty { state.draining = false }
                return taken
            }
            if batch.isEmpty { return }
            do {
                let outcomes = try await commit(batch.flatMap(\.items))
                var offset = 0
                for submission in batch {
                    submission.continuation.resume(returning: Array(outcomes[offset..<(offset + submission.items.count)]))
                    offset += submission.items.count
                }
            } catch {
                for submission in batch { submission.continuation.resume(throwing: error) }
            }
        }
    }
}

/// What `GroupCommit.submit` does after queueing.
private enum SubmitStep { case refuse, start, wait }
