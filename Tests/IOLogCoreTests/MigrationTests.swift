import Foundation
import IOLogSchema
import IOLogTestSupport
import Testing

@testable import IOLogCore

@Suite("Schema migrations")
struct MigrationTests {
    @Test func emptyDatabaseGetsEverySchemaAndRecordsIt() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let database = try Database(path: folder.path + "/log.sqlite")
        try MigrationSet.log.apply(to: database)
        #expect(try MigrationSet.log.appliedVersion(of: database) == MigrationSet.log.latestVersion)
        let tables = try database.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name") { $0.text(0) }
        for table in ["accounts", "memberships", "tokens", "generations", "audit_events", "schema_migrations"] {
            #expect(tables.contains(table), "missing table \(table)")
        }
        // Applying again is a no-op.
        try MigrationSet.log.apply(to: database)
        #expect(try database.queryFirst("SELECT count(*) FROM schema_migrations") { $0.int64(0) } == Int64(MigrationSet.log.migrations.count))
    }

    @Test("the tokens rebuild (ingest tokens) keeps every token, its browser sessions and the cascade")
    func tokensRebuildKeepsTokensAndSessions() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let database = try Database(path: folder.path + "/log.sqlite")
        let before = MigrationSet(name: "log", migrations: MigrationSet.log.migrations.filter { $0.version < 6 })
        try before.apply(to: database)
        let digest = [UInt8](repeating: 7, count: 32)
        _ = try database.execute(
            "INSERT INTO tokens (id, kind, user_id, secret_sha256, label, created_at, created_by) VALUES ('usr-1', 'user', 'alice', ?, 'laptop', 5, 'cli:root')",
            digest
        )
        _ = try database.execute("INSERT INTO sessions VALUES (?, 'usr-1', 'alice', 5, 99)", [UInt8](repeating: 8, count: 32))
        try MigrationSet.log.apply(to: database)
        #expect(try MigrationSet.log.appliedVersion(of: database) == MigrationSet.log.latestVersion)
        let token = try database.queryFirst("SELECT \(RowMapping.tokenColumns) FROM tokens WHERE id = 'usr-1'") { RowMapping.token($0) }
        #expect(token?.userID == "alice")
        #expect(token?.label == "laptop")
        #expect(token?.createdBy == "cli:root")
        #expect(token?.accountID == nil)
        #expect(try database.queryFirst("SELECT count(*) FROM sessions WHERE token_id = 'usr-1'") { $0.int64(0) } == 1)
        #expect(try database.queryFirst("PRAGMA foreign_key_check") { $0.text(0) } == nil)
        // The session still belongs to its token: deleting the token deletes it.
        try database.execute("DELETE FROM tokens WHERE id = 'usr-1'")
        #expect(try database.queryFirst("SELECT count(*) FROM sessions") { $0.int64(0) } == 0)
        // An ingest token needs its account, and only an ingest token has one.
        try database.execute("INSERT INTO accounts (id, kind, created_at, updated_at) VALUES ('acct', 'personal', 0, 0)")
        _ = try database.execute(
            "INSERT INTO tokens (id, kind, account_id, secret_sha256, created_at) VALUES ('ing-1', 'ingest', 'acct', ?, 1)",
            digest
        )
        #expect(throws: (any Error).self) {
            try database.execute("INSERT INTO tokens (id, kind, secret_sha256, created_at) VALUES ('ing-2', 'ingest', ?, 1)", digest)
        }
        #expect(throws: (any Error).self) {
            try database.execute(
                "INSERT INTO tokens (id, kind, account_id, secret_sha256, created_at) VALUES ('gw-2', 'gateway', 'acct', ?, 1)",
                digest
            )
        }
    }

    @Test("the deletion requests rebuild (end-user scope) keeps every request, its receipt and its order")
    func deletionRequestsRebuildKeepsRequests() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let database = try Database(path: folder.path + "/log.sqlite")
        try MigrationSet(name: "log", migrations: MigrationSet.log.migrations.filter { $0.version < 7 }).apply(to: database)
        try database.execute("INSERT INTO accounts (id, kind, created_at, updated_at) VALUES ('acct', 'personal', 0, 0)")
        for (id, scope, ids, before) in [("del-b", "before", nil, 5), ("del-a", "generations", #"["g1"]"#, nil)]
            as [(String, String, String?, Int64?)]
        {
            _ = try database.execute(
                """
                INSERT INTO deletion_requests (id, account_id, requested_by, filed_by, ticket, scope, scope_generation_ids, scope_before,
                    status, created_at, rows_erased) VALUES (?, 'acct', 'alice', 'cli:root', 'T', ?, ?, ?, 'completed', 7, 3)
                """,
                id,
                scope,
                ids,
                before
            )
        }
        try MigrationSet.log.apply(to: database)
        let requests = try database.query(
            "SELECT \(RowMapping.deletionColumns) FROM deletion_requests ORDER BY created_at DESC, rowid DESC",
            map: RowMapping.deletionRequest
        )
        #expect(requests.map(\.id) == ["del-a", "del-b"])
        #expect(requests.map(\.scope) == [.generations(["g1"]), .before(Timestamp(micros: 5))])
        #expect(requests.allSatisfy { $0.rowsErased == 3 && $0.status == .completed })
        #expect(throws: (any Error).self) {
            try database.execute(
                "INSERT INTO deletion_requests (id, account_id, requested_by, filed_by, ticket, scope, status, created_at) VALUES ('del-u', 'acct', 'a', 'b', 'T', 'user', 'pending', 1)"
            )
        }
    }

    @Test func databaseFromANewerIologIsRefused() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let storeEngine = try SQLiteEngine(folder: folder.dataFolder)
        try await storeEngine.migrate()
        await storeEngine.close()
        let database = try Database(path: folder.dataFolder.logDatabasePath)
        try database.execute("INSERT INTO schema_migrations VALUES (9999, 'from the future', 'now')")
        let again = try SQLiteEngine(folder: folder.dataFolder)
        let error = await #expect(throws: IOLogError.self) { try await again.migrate() }
        await again.close()
        #expect(error?.code == .schemaTooNew)
        #expect(error?.message.contains("9999") == true)
        #expect(error?.message.contains("newer iolog") == true)
    }

    @Test func pragmasAreSetForDurabilityAndErasure() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let database = try Database(path: folder.path + "/x.sqlite")
        #expect(try database.queryFirst("PRAGMA journal_mode") { $0.text(0) } == "wal")
        #expect(try database.queryFirst("PRAGMA synchronous") { $0.int64(0) } == 2)  // FULL
        #expect(try database.queryFirst("PRAGMA secure_delete") { $0.int64(0) } == 1)
        #expect(try database.queryFirst("PRAGMA foreign_keys") { $0.int64(0) } == 1)
    }

    /// Every `.sql` file in schema/sqlite/ and schema/postgres/ must be registered, in order, or
    /// it would silently never run.
    @Test func everySchemaFileIsRegistered() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../schema").standardized.path
        let engines: [(folder: String, prefix: String, sets: [(String, [EmbeddedSchema.File])])] = [
            ("sqlite", "", [("log", EmbeddedSchema.sqliteLog), ("keyring", EmbeddedSchema.sqliteKeyring)]),
            ("postgres", "pg_", [("log", EmbeddedSchema.postgresLog), ("keyring", EmbeddedSchema.postgresKeyring)]),
        ]
        for engine in engines {
            let files = try FileManager.default.contentsOfDirectory(atPath: root + "/" + engine.folder).filter { $0.hasSuffix(".sql") }.sorted()
            for (name, registered) in engine.sets {
                let onDisk = files.filter { $0.hasPrefix(engine.prefix + name + "_") }
                let expected = registered.map { String(format: "%@%@_%04d_%@.sql", engine.prefix, name, $0.version, $0.name) }
                #expect(onDisk == expected, "\(engine.folder) \(name) migrations on disk and in EmbeddedSchema differ")
            }
            let known = ["log_", "keyring_"].map { engine.prefix + $0 }
            #expect(files.allSatisfy { file in known.contains { file.hasPrefix($0) } || file == engine.prefix + "schema_migrations.sql" })
        }
        #expect(MigrationSet.log.migrations.map(\.version) == EmbeddedSchema.sqliteLog.map(\.version))
        #expect(MigrationSet.keyring.migrations.map(\.version) == EmbeddedSchema.sqliteKeyring.map(\.version))
    }

    @Test func errorsCarryExtendedCodeAndSQLButNoValues() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let database = try Database(path: folder.path + "/x.sqlite")
        try database.execute("CREATE TABLE t (x TEXT PRIMARY KEY)")
        try database.execute("INSERT INTO t VALUES (?)", "secret-value")
        let error = #expect(throws: DatabaseError.self) { try database.execute("INSERT INTO t VALUES (?)", "secret-value") }
        #expect(error?.extendedCode == 1555)  // SQLITE_CONSTRAINT_PRIMARYKEY
        #expect(error?.sql == "INSERT INTO t VALUES (?)")
        #expect(error?.description.contains("secret-value") == false)
    }

    @Test func connectionWorkRunsOnItsOwnThread() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let actor = try DatabaseActor(path: folder.path + "/x.sqlite", migrations: .log)
        let isMain = try await actor.read { _ in Thread.isMainThread }
        #expect(!isMain)
        #expect(await actor.runsOnOwnThread())
        await actor.close()
    }

    @Test func aWriterWaitsForAnotherConnectionsLockUpToTheTimeout() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.path + "/x.sqlite"
        let holder = try Database(path: path)
        try holder.execute("CREATE TABLE t (x INTEGER)")
        try holder.execute("BEGIN IMMEDIATE")
        // Held past the timeout: SQLITE_BUSY after about 60 ms, not at once and not forever.
        let waiter = try Database(path: path, busyTimeoutMilliseconds: 60)
        let began = Date()
        let error = #expect(throws: DatabaseError.self) { try waiter.execute("BEGIN IMMEDIATE") }
        let waited = Date().timeIntervalSince(began)
        #expect(error?.extendedCode == 5)  // SQLITE_BUSY
        #expect(waited >= 0.05 && waited < 1)
        // Released by another thread after 30 ms: the waiter gets in.
        let path2 = folder.path + "/y.sqlite"
        let gate = DispatchSemaphore(value: 0)
        let thread = Thread {
            let other = try! Database(path: path2)
            try! other.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
            try! other.execute("BEGIN IMMEDIATE")
            gate.signal()
            Thread.sleep(forTimeInterval: 0.03)
            try! other.execute("COMMIT")
        }
        thread.start()
        gate.wait()
        let patient = try Database(path: path2, busyTimeoutMilliseconds: 2_000)
        try patient.execute("BEGIN IMMEDIATE")
        try patient.execute("COMMIT")
        try holder.execute("ROLLBACK")
    }
}
