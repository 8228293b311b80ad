import Synchronization

/// Coalesces refused accesses so that a caller hammering an account costs one audit row (one
/// fsync) per minute instead of one per request. Each (account, actor) pair writes at most one
/// `access.denied` row per `window`; the refusals in between are counted, and the count is
/// written by the pair's next row or by `pending` (which the server calls every minute and at
/// shutdown), so the end of a burst is recorded too. Memory is bounded: past `capacity` pairs,
/// expired ones without a count are dropped, and if all are live the oldest is.
final class DenialLog: Sendable {
    /// How long after a written row the same caller's refusals on the same account are only counted.
    static let window: Int64 = 60_000_000
    static let capacity = 10_000

    /// Refusals counted but not yet written, for one caller on one account.
    struct Summary: Equatable {
        let accountID: String
        let actor: String
        /// The route and generation id of the last of them.
        let route: String
        let generationID: String?
        let count: Int
    }

    private struct Key: Hashable {
        let accountID: String
        let actor: String
    }

    private struct Entry {
        var writtenAt: Int64
        var suppressed: Int
        var route: String
        var generationID: String?
    }

    private let entries = Mutex<[Key: Entry]>([:])

    /// Nil when the refusal is only counted; otherwise write a row now, standing for the
    /// returned number of earlier refusals that were counted, not written.
    func admit(accountID: String, actor: String, route: String, generationID: String?, at time: Timestamp) -> Int? {
        let key = Key(accountID: accountID, actor: actor)
        return entries.withLock { entries in
            if var entry = entries[key], time.micros - entry.writtenAt < Self.window {
                entry.suppressed += 1
                entry.route = route
                entry.generationID = generationID
                entries[key] = entry
                return nil
            }
            let repeated = entries[key]?.suppressed ?? 0
            if entries[key] == nil, entries.count >= Self.capacity {
                entries = entries.filter { time.micros - $0.value.writtenAt < Self.window || $0.value.suppressed > 0 }
                if entries.count >= Self.capacity, let oldest = entries.min(by: { $0.value.writtenAt < $1.value.writtenAt }) {
                    entries[oldest.key] = nil
                }
            }
            entries[key] = Entry(writtenAt: time.micros, suppressed: 0, route: route, generationID: generationID)
            return repeated
        }
    }

    /// Takes the counts whose window has passed (every count with `all`), to be written now.
    func pending(at time: Timestamp, all: Bool) -> [Summary] {
        entries.withLock { entries in
            var summaries: [Summary] = []
            for (key, entry) in entries where entry.suppressed > 0 && (all || time.micros - entry.writtenAt >= Self.window) {
                summaries.append(
                    Summary(
                        accountID: key.accountID,
                        actor: key.actor,
                        route: entry.route,
                        generationID: entry.generationID,
                        count: entry.suppressed
                    )
                )
                entries[key] = Entry(writtenAt: time.micros, suppressed: 0, route: entry.route, generationID: entry.generationID)
            }
            return summaries.sorted { ($0.accountID, $0.actor) < ($1.accountID, $1.actor) }
        }
    }
}
