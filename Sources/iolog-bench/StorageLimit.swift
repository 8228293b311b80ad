import ArgumentParser
import CSQLite
import Foundation
import IOLogCore

/// Benchmark helpers that need iolog's own schema but not its server (`scripts/bench`).
@main
struct IOLogBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "iolog-bench",
        abstract: "Benchmark helpers for scripts/bench; not part of the service.",
        subcommands: [StorageLimit.self]
    )
}

/// The storage limit: how many rows per second the engine itself takes when nothing but the
/// engine's C API stands between the rows and the disk. The rows are those iolog stores for the
/// benchmark's generation (same columns, same sealed sizes: each body sealed with AES-256-GCM
/// under iolog's envelope header), in iolog's schema with its indexes and pragmas, in
/// transactions of `--per-transaction` rows, each durable before the next begins.
struct StorageLimit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storage-limit",
        abstract: "Raw batched inserts of iolog's rows through the engine's C API; prints rows/s."
    )

    @Option(help: "A folder for a fresh SQLite log database (SQLite).")
    var dataDir: String?

    @Option(help: "A PostgreSQL database to migrate and fill (PostgreSQL).")
    var databaseURL: String?

    @Option(help: "Rows to insert.")
    var rows = 200_000

    @Option(help: "Rows per transaction.")
    var perTransaction = 1_000

    @Option(help: "Bytes of the canonical prompt and completion of each row (the size iolog seals).")
    var bodyBytes: [Int] = [1_700, 520]

    func validate() throws {
        guard (dataDir == nil) != (databaseURL == nil) else { throw ValidationError("give exactly one of --data-dir and --database-url") }
        guard rows > 0, perTransaction > 0, perTransaction <= 2_000 else {
            throw ValidationError("--rows must be positive and --per-transaction between 1 and 2000")
        }
        guard bodyBytes.count == 2, bodyBytes.allSatisfy({ $0 > 0 }) else { throw ValidationError("--body-bytes takes two positive sizes") }
    }

    func run() async throws {
        let rows = try Self.rows(count: rows, bodyBytes: bodyBytes)
        let began = ContinuousClock.now
        if let dataDir {
            try Self.insertSQLite(rows, perTransaction: perTransaction, folder: dataDir)
        } else if let databaseURL {
            try await Self.insertPostgres(rows, perTransaction: perTransaction, url: databaseURL)
        }
        let seconds = (ContinuousClock.now - began) / .seconds(1)
        print(String(format: "%d rows in %.2f s: %.0f rows/s", rows.count, seconds, Double(rows.count) / seconds))
    }

    /// Rows shaped like the benchmark's ingest (scripts/bench/ingest.lua), sealed as iolog seals.
    static func rows(count: Int, bodyBytes: [Int]) throws -> [SealedGeneration] {
        let key = try SymmetricKey.random()
        let header: [UInt8] = [1, 0, 0, 0, 1]
        func seal(_ size: Int) throws -> [UInt8] {
            header + (try AESGCM.seal(try SecureRandom.bytes(count: size), using: key, authenticating: header).combined)
        }
        let prompt = try seal(bodyBytes[0])
        let completion = try seal(bodyBytes[1])
        let start = Clock.system.nowMicros()
        return try (0..<count).map { index in
            SealedGeneration(
                id: "limit-\(start)-\(index)",
                accountID: "demo-org",
                createdAt: Timestamp(micros: start + Int64(index)),
                storedAt: Timestamp(micros: start + Int64(index)),
                userID: "user_42",
                model: "openai/gpt-4o",
                provider: "OpenAI",
                region: "global",
                promptTokens: 1200,
                completionTokens: 350,
                costUSD: 0.004125,
                latencyMilliseconds: 812,
                finishReason: "stop",
                contentMAC: try SecureRandom.bytes(count: 32),
                promptSealed: prompt,
                completionSealed: completion
            )
        }
    }

    /// One prepared INSERT, bound column by column through the C API, `perTransaction` rows
    /// per `BEGIN IMMEDIATE … COMMIT`, in a database opened with iolog's pragmas and migrated
    /// with its schema.
    static func insertSQLite(_ rows: [SealedGeneration], perTransaction: Int, folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let database = try Database(path: folder + "/limit.sqlite")
        try MigrationSet.log.apply(to: database)
        try database.execute(
            "INSERT INTO accounts (id, kind, created_at, updated_at) VALUES ('demo-org', 'organization', 0, 0) ON CONFLICT DO NOTHING"
        )
        let insert = try database.prepare(
            "INSERT INTO generations (\(RowMapping.generationColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"
        )
        let p = insert.pointer
        func text(_ index: Int32, _ value: String?) {
            guard let value else {
                sqlite3_bind_null(p, index)
                return
            }
            _ = value.utf8CString.withUnsafeBufferPointer { iolog_sqlite3_bind_text_transient(p, index, $0.baseAddress, Int32($0.count - 1)) }
        }
        func blob(_ index: Int32, _ value: [UInt8]?) {
            guard let value else {
                sqlite3_bind_null(p, index)
                return
            }
            _ = value.withUnsafeBytes { iolog_sqlite3_bind_blob_transient(p, index, $0.baseAddress, Int32($0.count)) }
        }
        for chunk in stride(from: 0, to: rows.count, by: perTransaction) {
            try database.transaction {
                for g in rows[chunk..<min(chunk + perTransaction, rows.count)] {
                    sqlite3_reset(p)
                    text(1, g.id)
                    text(2, g.accountID)
                    sqlite3_bind_int64(p, 3, g.createdAt.micros)
                    sqlite3_bind_int64(p, 4, g.storedAt.micros)
                    text(5, g.userID)
                    text(6, g.apiKeyID)
                    text(7, g.model)
                    text(8, g.provider)
                    text(9, g.region)
                    sqlite3_bind_int64(p, 10, g.promptTokens ?? 0)
                    sqlite3_bind_int64(p, 11, g.completionTokens ?? 0)
                    sqlite3_bind_double(p, 12, g.costUSD ?? 0)
                    sqlite3_bind_int64(p, 13, g.latencyMilliseconds ?? 0)
                    text(14, g.finishReason)
                    sqlite3_bind_null(p, 15)
                    text(16, g.sessionID)
                    blob(17, g.contentMAC)
                    blob(18, g.promptSealed)
                    blob(19, g.completionSealed)
                    blob(20, g.reasoningSealed)
                    guard sqlite3_step(p) == SQLITE_DONE else {
                        throw ValidationError("insert failed: \(String(cString: sqlite3_errmsg(sqlite3_db_handle(p))))")
                    }
                }
            }
        }
    }

    /// Multi-row INSERTs of `perTransaction` rows into `generation_ids` and `generations` (the
    /// two tables iolog writes per generation on PostgreSQL), one transaction each, through libpq.
    static func insertPostgres(_ rows: [SealedGeneration], perTransaction: Int, url: String) async throws {
        let engine = PostgresEngine(url: url, connections: 1)
        try await engine.migrate()
        // Creates the account and this month's partition the way iolog does, outside the timing.
        _ = try await engine.store.upsertAccount(
            id: "demo-org",
            kind: .organization,
            name: nil,
            at: Timestamp(micros: 0),
            audit: AuditEvent(occurredAt: Timestamp(micros: 0), actor: "bench", action: "bench", accountID: nil, target: nil, detail: nil)
        )
        try await engine.postgresStore.ensurePartitions(for: [rows[0].createdAt.micros])
        await engine.close()
        let connection = try PostgresConnection(url: url)
        defer { connection.close() }
        for chunk in stride(from: 0, to: rows.count, by: perTransaction) {
            let slice = rows[chunk..<min(chunk + perTransaction, rows.count)]
            try connection.transaction {
                try connection.execute(
                    "INSERT INTO generation_ids (id, account_id, created_at, content_mac) VALUES "
                        + Self.placeholders(rows: slice.count, columns: 4),
                    slice.flatMap { g in [g.id.sqlValue, g.accountID.sqlValue, g.createdAt.micros.sqlValue, g.contentMAC.sqlValue] }
                )
                try connection.execute(
                    "INSERT INTO generations (\(RowMapping.generationColumns)) VALUES " + Self.placeholders(rows: slice.count, columns: 20),
                    slice.flatMap(PostgresStore.arguments(of:))
                )
            }
        }
    }

    /// `($1, $2), ($3, $4)` for two rows of two columns.
    static func placeholders(rows: Int, columns: Int) -> String {
        (0..<rows).map { row in "(" + (1...columns).map { "$\(row * columns + $0)" }.joined(separator: ", ") + ")" }.joined(separator: ", ")
    }
}
