/// The embedded engine's log store: the log database in one SQLite file.
///
/// Two connections, each on its own thread: one for writes (SQLite allows one writer at a
/// time anyway) and one for reads, which in WAL mode see every committed write without
/// waiting for a commit in flight.
///
/// How it keeps `LogStore`'s invariants: one audit append at a time because every write runs
/// on the one writer connection in a `BEGIN IMMEDIATE` transaction (and other processes wait
/// for the file's write lock); destroyed keys are visible inside an insert's transaction
/// because the keyring file is attached to the writer, so the write lock covers both files;
/// erased residue is scrubbed by `secure_delete` plus a WAL checkpoint and truncation.
public final class SQLiteStore: LogStore {
    let writer: DatabaseActor
    let reader: DatabaseActor
    let checksKeys: Bool

    /// Opens the log database at `path` (migrated by `migrate()`). With `keyringPath`, every
    /// insert checks in its own transaction that the data key its bodies were sealed with has
    /// not been destroyed, so a generation sealed just before its account's keys were
    /// destroyed can never be committed after the erasure's last batch.
    public init(path: String, keyringPath: String? = nil) throws {
        writer = try DatabaseActor(path: path, name: "log", keyring: keyringPath, automaticCheckpoints: false)
        reader = try DatabaseActor(path: path, name: "log")
        checksKeys = keyringPath != nil
        checkpointer = try WALCheckpointer(path: path)
    }

    /// Copies the write-ahead log into the database file off the commit path (see
    /// `WALCheckpointer`).
    let checkpointer: WALCheckpointer

    /// Creates or updates the schema (`schema/sqlite/log_*.sql`).
    public func migrate() async throws {
        try await writer.read { db in try MigrationSet.log.apply(to: db) }
    }

    public func close() async {
        await checkpointer.close()
        await writer.close()
        await reader.close()
    }

    /// Runs `body` on the writer connection; for tests of SQLite itself and maintenance.
    public func withDatabase<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T {
        try await writer.read(body)
    }

    public func checkHealth() async throws {
        _ = try await reader.read { db in try db.queryFirst("SELECT 1") { $0.int64(0) } }
    }

    public func claimMaintenance(_ job: String) async throws -> Bool { true }

    /// Erased pages were zeroed as they were freed (`secure_delete`); what remains is the WAL,
    /// which still holds the pages as they were before. Checkpointing it into the database
    /// file and truncating it to zero bytes leaves no copy.
    public func scrubErasedResidue() async throws {
        try await writer.read { db in try db.truncateWALWaiting() }
    }
}
