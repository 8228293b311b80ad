import Synchronization

/// Coalesces refused accesses so that a caller hammering an account costs one audit row (one
/// fsync) per minute instead of one per request. Each (account, actor) pair writes at most one
/// `access.denied` row per `window`; the refusals in between are counted and reported by the
/// next row written. Memory is bounded: past `capacity` pairs, expired ones are dropped, and
/// if all are live the oldest is.
final class DenialLog: Sendable {
    /// How long after a written row the same caller's refusals on the same account are only counted.
    static let window: Int64 = 60_000_000
    static let capacity = 10_000

    private struct Key: Hashable {
        let accountID: String
        let actor: String
    }

    private struct Entry {
        var writtenAt: Int64
        var suppressed: Int
    }

    private let entries = Mutex<[Key: Entry]>([:])

    /// Nil when the refusal is only counted; otherwise write a row now, standing for the
    /// returned number of earlier refusals that were counted, not written.
    func admit(accountID: String, actor: String, at time: Timestamp) -> Int? {
        let key = Key(accountID: accountID, actor: actor)
        return entries.withLock { entries in
            if var entry = entries[key], time.micros - entry.writtenAt < Self.window {
                entry.suppressed += 1
                entries[key] = entry
                return nil
            }
            let repeated = entries[key]?.suppressed ?? 0
            if entries[key] == nil, entries.count >= Self.capacity {
                entries = entries.filter { time.micros - $0.value.writtenAt < Self.window }
                if entries.count >= Self.capacity, let oldest = entries.min(by: { $0.value.writtenAt < $1.value.writtenAt }) {
                    entries[oldest.key] = nil
                }
            }
            entries[key] = Entry(writtenAt: time.micros, suppressed: 0)
            return repeated
        }
    }
}
