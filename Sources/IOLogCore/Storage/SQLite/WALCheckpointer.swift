import Synchronization

/// Checkpoints the log database's write-ahead log from a connection of its own, so commits
/// never do it.
///
/// SQLite's automatic checkpoint runs inside the commit that crosses 1,000 WAL pages: that
/// commit, and every request waiting for it, then also waits for about 4 MB to be copied into
/// the database file and for that file's fsync. Under steady ingest this happened every few
/// hundred rows and set the p99. The writer connection turns automatic checkpoints off; this
/// one runs `PRAGMA wal_checkpoint(PASSIVE)` every 100 ms on its own thread, which copies what
/// no reader still needs without taking the write lock, so commits go on meanwhile. Should
/// passive checkpoints fall behind (ingest near the storage limit, or a long export pinning an
/// old snapshot), the WAL grows; once it is past 64 MiB a checkpoint that waits for the writer
/// (`RESTART`) brings it back, trading one slow commit for a bounded debt. (Passive checkpoints
/// alone let the debt grow to gigabytes while seeding a million rows, and paying it back later
/// stalled commits for over a second; an ingest rate measured while the debt grows is also a
/// rate the disk cannot keep.) `journal_size_limit` cuts the file back to 64 MiB once it
/// starts over. Other processes (the `iolog` commands) keep SQLite's automatic checkpoints.
final class WALCheckpointer: Sendable {
    /// Between passive checkpoints.
    static let interval: Duration = .milliseconds(100)
    /// WAL frames (4 KiB pages) past which a checkpoint waits for the writer.
    static let restartFrames: Int64 = 16_384

    private let connection: DatabaseActor
    private let task = Mutex<Task<Void, Never>?>(nil)

    init(path: String) throws {
        connection = try DatabaseActor(path: path, name: "log checkpoint")
        let connection = connection
        task.withLock {
            $0 = Task.detached {
                while !Task.isCancelled {
                    try? await Task.sleep(for: Self.interval)
                    guard !Task.isCancelled else { return }
                    try? await Self.checkpoint(connection)
                }
            }
        }
    }

    /// One checkpoint: passive, or restarting when the log is past `restartFrames`.
    static func checkpoint(_ connection: DatabaseActor) async throws {
        try await connection.read { db in
            let frames = try db.queryFirst("PRAGMA wal_checkpoint(PASSIVE)") { $0.int64(1) } ?? 0
            if frames > restartFrames { _ = try db.queryFirst("PRAGMA wal_checkpoint(RESTART)") { $0.int64(0) } }
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
