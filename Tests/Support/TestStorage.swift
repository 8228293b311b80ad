import Foundation
import IOLogCore

/// The storage engine the test suite runs against, for every test that opens one.
///
/// SQLite in the test's data folder by default. With `IOLOG_TEST_DATABASE_URL` set to a
/// PostgreSQL server (`scripts/test` starts a throwaway cluster and runs the whole suite a
/// second time with it), each data folder gets a database of its own on that server, created
/// on first use and found again when the same folder is reopened.
public enum TestStorage {
    /// The variable `scripts/test` sets for the PostgreSQL run.
    public static let databaseURLVariable = "IOLOG_TEST_DATABASE_URL"

    /// The server's URL, when this run is against PostgreSQL.
    public static var serverURL: String? {
        ProcessInfo.processInfo.environment[databaseURLVariable].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// "sqlite" or "postgres".
    public static var engineName: String { serverURL == nil ? "sqlite" : "postgres" }
    public static var isSQLite: Bool { serverURL == nil }
    public static var isPostgres: Bool { serverURL != nil }

    /// Where the data of `folder` lives in this run (creating its PostgreSQL database if needed).
    public static func location(for folder: DataFolder) throws -> StorageLocation {
        guard let server = serverURL else { return .sqlite(folder) }
        let name = "t_" + String(UInt64(bitPattern: Int64(folder.path.hashValueStable)), radix: 36)
        try PostgresAdmin.createDatabaseIfMissing(name, serverURL: server)
        return .postgres(url: PostgresAdmin.url(server, database: name), connections: 4)
    }

    /// Opens and migrates the engine for `folder`.
    public static func open(_ folder: DataFolder) async throws -> any StorageEngine {
        let engine = try location(for: folder).open()
        do {
            try await engine.migrate()
        } catch {
            await engine.close()
            throw error
        }
        return engine
    }

    /// Opens the engine for `folder`, runs `body`, closes it (also when `body` throws).
    public static func with<T>(_ folder: DataFolder, _ body: (any StorageEngine) async throws -> T) async throws -> T {
        let engine = try await open(folder)
        do {
            let result = try await body(engine)
            await engine.close()
            return result
        } catch {
            await engine.close()
            throw error
        }
    }
}

extension String {
    /// FNV-1a of the UTF-8 bytes: stable across processes (Swift's `hashValue` is seeded).
    var hashValueStable: Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return Int(bitPattern: UInt(hash))
    }
}

/// Creates the per-folder databases of the PostgreSQL run, through `psql` (tests only).
enum PostgresAdmin {
    /// `server` (a URL ending in `/DATABASE`) with its database replaced by `database`.
    static func url(_ server: String, database: String) -> String {
        guard let slash = server.lastIndex(of: "/") else { return server }
        return String(server[...slash]) + database
    }

    private static let created = NSLock()
    nonisolated(unsafe) private static var known: Set<String> = []

    static func createDatabaseIfMissing(_ name: String, serverURL: String) throws {
        created.lock()
        defer { created.unlock() }
        guard !known.contains(name) else { return }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        process.arguments = [
            serverURL, "-v", "ON_ERROR_STOP=1", "-qAtc",
            "SELECT 1 FROM pg_database WHERE datname = '\(name)'",
        ]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        process.waitUntilExit()
        let exists = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).contains("1")
        if !exists {
            let create = Process()
            create.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
            create.arguments = [serverURL, "-v", "ON_ERROR_STOP=1", "-qc", "CREATE DATABASE \(name)"]
            try create.run()
            create.waitUntilExit()
            guard create.terminationStatus == 0 else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "CREATE DATABASE \(name) failed"])
            }
        }
        known.insert(name)
    }
}

extension DataFolder {
    /// The engine under test over this folder, opened and migrated.
    public func openEngine() async throws -> any StorageEngine {
        try await TestStorage.open(self)
    }
}

extension StorageEngine {
    /// A keyring over this engine's keys, its master key verified.
    public func keyring(masterKey: MasterKey) async throws -> DataKeyring {
        try await DataKeyring.open(keys: keys, masterKey: masterKey)
    }

    /// The SQLite log store, when this is the SQLite engine (for tests of SQLite's own files).
    public var sqlite: SQLiteStore? { (self as? SQLiteEngine)?.sqliteStore }
}

/// Raw SQL for the few tests that must reach past the storage protocol (to tamper with a row,
/// or move one back in time): the same literal statement runs on either engine, on SQLite
/// through the store's own connection and on PostgreSQL through `psql`.
public enum TestSQL {
    /// Runs `sql` (no parameters; values are literals the test controls) and returns every row's
    /// columns as text.
    @discardableResult
    public static func rows(_ engine: any StorageEngine, _ sql: String) async throws -> [[String]] {
        if let store = engine.sqlite {
            return try await store.withDatabase { db in
                let statement = try db.prepare(sql)
                var rows: [[String]] = []
                while try statement.step() {
                    let row = Row(statement: statement)
                    rows.append((0..<statement.columnCount).map { row.optionalText($0) ?? "" })
                }
                return rows
            }
        }
        guard let url = postgresURL(of: engine) else { return [] }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        process.arguments = [url, "-v", "ON_ERROR_STOP=1", "-qAt", "-F", "\u{1F}", "-c", "SET search_path = iolog, iolog_keyring", "-c", sql]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "psql failed on: \(sql)"])
        }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map { line in
            line.split(separator: "\u{1F}", omittingEmptySubsequences: false).map(String.init)
        }
    }
}

/// The connection URL of a PostgreSQL engine; nil for SQLite.
func postgresURL(of engine: any StorageEngine) -> String? { nil }
