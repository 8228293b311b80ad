import Synchronization

/// Checkpoints the log database's write-ahead log from a connection of its own, so commits
/// never do it.
///
/// SQLite's automatic checkpoint runs inside the commit that crosses 1,000 WAL pages: that
/// commit, and every request waiting for it, then also waits for about 4 MB to be copied into
/// the database file and for that file's fsync. Under steady ingest this happened every few
/// hundred rows and set the p99. The writer connection turns automatic checkpoints off; this
/// one runs `PRAGMA wal_checkpoint(PASSIVE)` on its own thread, which copies what no reader
/// still needs without ever taking the write lock, so commits go on meanwhile: every 100 ms,
/// or every 5 ms while it is behind (never in a busy loop, which a long read pinning old
/// frames would otherwise cause). Blocking modes (FULL, RESTART) are never used: they
/// hold new writers back for the whole copy, the very stall this avoids. While ingest outruns
/// the copy the WAL file grows; SQLite starts it over from the beginning once everything in it
/// was copied, and `journal_size_limit` (64 MiB, set on the writer) then cuts the file back.
/// Other processes (the `iolog` commands) keep SQLite's automatic checkpoints.
final class WALCheckpointer: Sendable {
    /// Between passive checkpoints that found nothing left to copy, and while behind.
    static let interval: Duration = .milliseconds(100)
    static let catchUpInterval: Duration = .milliseconds(5)

    private let connection: DatabaseActor
    private let task = Mutex<Task<Void, Never>?>(nil)

    init(path: String) throws {
        connection = try DatabaseActor(path: path, name: "log checkpoint")
        let connection = connection
        task.withLock {
            $0 = Task.detached {
                while !Task.isCancelled {
                    let behind = (try? await Self.checkpoint(connection)) ?? false
                    try? await Task.sleep(for: behind ? Self.catchUpInterval : Self.interval)
                }
            }
        }
    }

    /// One passive checkpoint; true when frames were left uncopied (a reader still needs them,
    /// or commits arrived meanwhile) and the log is longer than a few pages.
    static func checkpoint(_ connection: DatabaseActor) async throws -> Bool {
        try await connection.read { db in
            try db.queryFirst("PRAGMA wal_checkpoint(PASSIVE)") { row in
                row.int64(1) > 64 && row.int64(2) < row.int64(1)
            } ?? false
        }
    }

    /// Stops the checkpoints and the connection's thread.
    func close() async {
        let running = task.withLock { task -> Task<Void, Never>? in
            defer { task = nil }
            return task
        }
        running?.cancel()
        await running?.value
        await connection.close()
    }
}
