import Foundation
import IOLogSchema
import Synchronization

/// The PostgreSQL engine's log store: schema `iolog` on a server that several `iolog serve`
/// replicas share.
///
/// How it keeps `LogStore`'s invariants across processes: audit appends lock the one-row
/// chain head (`audit_head … FOR UPDATE`); an insert takes a share lock on its account row
/// (ordered against `startDeletion`, which updates it) and on its data key row in
/// `iolog_keyring.data_keys` (ordered against `destroyKeys`, which deletes it), inside its own
/// transaction; idempotency and conflicts are decided by the primary key of `generation_ids`;
/// erased residue is vacuumed.
public final class PostgresStore: LogStore {
    let pool: PostgresPool
    /// A connection of its own for session-level advisory locks held across many statements
    /// (the retention runner's).
    let maintenance: PostgresConnectionActor
    /// Month partitions known to exist (months since 1970-01), so the insert path asks the
    /// server only for a month it has not seen.
    let partitions = Mutex<Set<Int>>([])
    private let claimed = Mutex<Set<String>>([])

    init(pool: PostgresPool, url: String) {
        self.pool = pool
        maintenance = PostgresConnectionActor(url: url, name: "postgres maintenance")
    }

    func closeMaintenance() async {
        await maintenance.close()
    }

    public func checkHealth() async throws {
        try await pool.withConnection { c in _ = try c.execute("SELECT 1") }
    }

    public func claimMaintenance(_ job: String) async throws -> Bool {
        if claimed.withLock({ $0.contains(job) }) { return true }
        let key = Int64(truncatingIfNeeded: job.stableHash)
        let won = try await maintenance.run { c in
            try c.execute("SELECT pg_try_advisory_lock($1)", [.integer(key)]).first?.bool(0) ?? false
        }
        if won { claimed.withLock { _ = $0.insert(job) } }
        return won
    }

    /// Plain `VACUUM` of the tables erased from: their dead tuples (the erased rows, sealed
    /// bodies in TOAST included) are removed and the space is reused by later rows. It runs
    /// outside a transaction, as VACUUM must. What it does not reach (the server's WAL,
    /// replicas, base backups) is described in docs/OPERATIONS.md.
    public func scrubErasedResidue() async throws {
        try await pool.withConnection { c in
            try c.executeScript("VACUUM iolog.generations, iolog.generation_ids, iolog.erased_generation_ids")
        }
    }
}

extension PostgresConnection {
    /// `execute` with Swift values bound to `$1`, `$2`, ….
    @discardableResult
    func run(_ sql: String, _ arguments: any SQLBindable...) throws -> PostgresResult {
        try execute(sql, arguments.map(\.sqlValue))
    }
}

extension String {
    /// FNV-1a of the UTF-8 bytes: the same in every process (advisory lock keys; the test
    /// support names its per-folder databases with it).
    package var stableHash: UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return hash
    }
}
