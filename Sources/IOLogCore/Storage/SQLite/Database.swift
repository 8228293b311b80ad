import CSQLite
import Foundation

/// One SQLite connection. Not `Sendable`: it lives inside the actor that opened it
/// and is lent to closures that run on that actor's thread.
public final class Database {
    /// The file the connection opened.
    public let path: String
    let handle: OpaquePointer

    /// Opens (creating if needed) the database at `path` and applies iolog's pragmas:
    /// WAL, `synchronous=FULL`, `secure_delete=ON`, foreign keys and a busy timeout.
    public init(path: String, busyTimeoutMilliseconds: Int32 = 10_000) throws(DatabaseError) {
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        let status = sqlite3_open_v2(path, &handle, flags, nil)
        guard status == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open database"
            sqlite3_close_v2(handle)
            throw DatabaseError(extendedCode: status, message: message)
        }
        self.path = path
        self.handle = handle
        Self.installBusyHandler(handle, timeoutMilliseconds: Int(busyTimeoutMilliseconds))
        try execute("PRAGMA journal_mode = WAL")
        try execute("PRAGMA synchronous = FULL")
        try execute("PRAGMA secure_delete = ON")
        try execute("PRAGMA foreign_keys = ON")
        try execute("PRAGMA trusted_schema = OFF")
    }

    deinit {
        statements.removeAll()
        sqlite3_close_v2(handle)
    }

    /// Waits for a lock held by another connection by polling every 250 µs for the first 20 ms,
    /// then every 2 ms, up to the timeout. SQLite's own busy timeout backs off to 100 ms between
    /// tries, so a commit waiting behind another process's stream of short write transactions
    /// (a deletion run, a retention purge) would miss most of the gaps between them.
    private static func installBusyHandler(_ handle: OpaquePointer, timeoutMilliseconds: Int) {
        let allowedTries = 80 + max(timeoutMilliseconds - 20, 0) / 2
        sqlite3_busy_handler(
            handle,
            { context, tries in
                let allowed = Int(bitPattern: context)
                guard Int(tries) < allowed else { return 0 }
                usleep(Int(tries) < 80 ? 250 : 2_000)
                return 1
            },
            UnsafeMutableRawPointer(bitPattern: allowedTries)
        )
    }

    /// Runs one or more statements that bind nothing (DDL, pragmas, migrations).
    public func execute(_ sql: String) throws(DatabaseError) {
        var errorMessage: UnsafeMutablePointer<CChar>?
        let status = sqlite3_exec(handle, sql, nil, nil, &errorMessage)
        guard status == SQLITE_OK else {
            let message = errorMessage.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(handle))
            sqlite3_free(errorMessage)
            throw DatabaseError(extendedCode: sqlite3_extended_errcode(handle), message: message, sql: Self.summary(of: sql))
        }
    }

    /// Runs one statement with arguments and returns how many rows it changed.
    @discardableResult
    public func execute(_ sql: String, _ arguments: any SQLBindable...) throws(DatabaseError) -> Int {
        let statement = try borrow(sql)
        defer { giveBack(statement) }
        try statement.bind(arguments)
        while try statement.step() {}
        return Int(sqlite3_changes64(handle))
    }

    /// Runs a query and maps every row.
    public func query<T>(_ sql: String, _ arguments: any SQLBindable..., map: (Row) throws -> T) throws -> [T] {
        try withStatement(sql) { statement in
            try statement.bind(arguments)
            var results: [T] = []
            while try statement.step() { results.append(try map(Row(statement: statement))) }
            return results
        }
    }

    /// Runs a query and maps its first row, if any.
    public func queryFirst<T>(_ sql: String, _ arguments: any SQLBindable..., map: (Row) throws -> T) throws -> T? {
        try withStatement(sql) { statement in
            try statement.bind(arguments)
            guard try statement.step() else { return nil }
            return try map(Row(statement: statement))
        }
    }

    /// Lends `body` the connection's compiled statement for `sql`, compiled on first use and
    /// kept for the next (parsing and planning cost more than a small insert). Afterwards the
    /// statement is reset, which ends its read of the database, and its bindings are cleared,
    /// which frees the copies of the bodies it was given. A statement already lent out (the
    /// same SQL used inside its own row mapping) is compiled afresh for the inner use.
    public func withStatement<T>(_ sql: String, _ body: (Statement) throws -> T) throws -> T {
        let statement = try borrow(sql)
        defer { giveBack(statement) }
        return try body(statement)
    }

    /// Runs a statement without arguments through the statement cache.
    private func executeCached(_ sql: String) throws(DatabaseError) {
        let statement = try borrow(sql)
        defer { giveBack(statement) }
        while try statement.step() {}
    }

    private func borrow(_ sql: String) throws(DatabaseError) -> Statement {
        let statement = try cachedStatement(sql)
        statement.inUse = true
        return statement
    }

    private func giveBack(_ statement: Statement) {
        statement.inUse = false
        statement.finish()
    }

    /// The cached statement for `sql`, or a fresh one when it is lent out already.
    private func cachedStatement(_ sql: String) throws(DatabaseError) -> Statement {
        if let cached = statements[sql] {
            return cached.inUse ? try prepare(sql) : cached
        }
        // Dynamic SQL (filtered listings) has a bounded number of shapes; the bound only
        // guards against a caller that builds unbounded text.
        if statements.count >= Self.statementCacheLimit { statements.removeAll() }
        let statement = try prepare(sql)
        statements[sql] = statement
        return statement
    }

    /// Compiled statements kept per connection.
    static let statementCacheLimit = 128
    private var statements: [String: Statement] = [:]

    /// Compiles one statement.
    public func prepare(_ sql: String) throws(DatabaseError) -> Statement {
        var pointer: OpaquePointer?
        let status = sqlite3_prepare_v3(handle, sql, -1, 0, &pointer, nil)
        guard status == SQLITE_OK, let pointer else { throw error(sql: sql) }
        return Statement(pointer: pointer, database: self, sql: sql)
    }

    /// Runs `body` in a transaction (`BEGIN IMMEDIATE` so writers queue on the lock up front,
    /// not at their first write); commits if it returns, rolls back if it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try executeCached("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try executeCached("COMMIT")
            return result
        } catch {
            try? executeCached("ROLLBACK")
            throw error
        }
    }

    /// Copies the WAL into the database and truncates it to zero bytes. Returns false when
    /// another connection's read or write kept it from finishing (SQLite then reports busy).
    @discardableResult
    public func checkpointAndTruncateWAL() throws -> Bool {
        try queryFirst("PRAGMA wal_checkpoint(TRUNCATE)") { $0.int64(0) == 0 } ?? false
    }

    /// `checkpointAndTruncateWAL`, retried while other connections hold the WAL (up to `seconds`).
    public func truncateWALWaiting(seconds: Double = 10) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while try !checkpointAndTruncateWAL() {
            guard Date() < deadline else {
                throw IOLogError(.refused, "could not truncate the write-ahead log: another connection kept it busy")
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// Rows changed by the last statement on this connection.
    public var changes: Int { Int(sqlite3_changes64(handle)) }

    /// The row id of the last insert on this connection.
    public var lastInsertedRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    func error(sql: String?) -> DatabaseError {
        DatabaseError(
            extendedCode: sqlite3_extended_errcode(handle),
            message: String(cString: sqlite3_errmsg(handle)),
            sql: sql.map(Self.summary(of:))
        )
    }

    /// The first line of a statement, enough to find it in the code, short enough for a log line.
    private static func summary(of sql: String) -> String {
        let firstLine = sql.split(separator: "\n", omittingEmptySubsequences: true).first.map(String.init) ?? sql
        return firstLine.count > 120 ? String(firstLine.prefix(120)) + "…" : firstLine
    }
}
