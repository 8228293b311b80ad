import CLibPQ
import Foundation

/// One PostgreSQL connection through libpq. Not `Sendable`: it lives inside the
/// `PostgresConnectionActor` that opened it and is lent to closures that run on that actor's
/// thread, so libpq's blocking calls never hold up the cooperative pool.
///
/// Statements send their arguments separately from the SQL (`$1`, `$2`, …), never spliced into
/// it, and ask for results in binary format so numbers and bytes arrive exactly.
public final class PostgresConnection {
    /// The libpq connection; nil once closed.
    private var handle: OpaquePointer?

    /// Connects to `url` (a `postgres://` URL or `key=value` string), silences server notices
    /// and sets the session up: times in UTC, commits durable before they return.
    ///
    /// Connecting gives up after 10 seconds unless `url` sets its own `connect_timeout`, and
    /// the server sees `application_name` iolog unless `url` sets one.
    /// - Throws: `PostgresError` 08000 with libpq's reason (never the URL, which may hold a password).
    public init(url: String) throws(PostgresError) {
        // Later keywords override the ones the URL expands to, so defaults go before it.
        let handle = Self.connect(
            keywords: ["connect_timeout", "dbname", "fallback_application_name"],
            values: ["10", url, "iolog"]
        )
        guard let handle, PQstatus(handle) == CONNECTION_OK else {
            let error = PostgresError.connectionFailure(handle)
            PQfinish(handle)
            throw error
        }
        PQsetNoticeProcessor(handle, iolog_pq_ignore_notice, nil)
        self.handle = handle
        try configureSession()
    }

    deinit {
        close()
    }

    /// True when the connection is closed or libpq found it unusable (the server went away,
    /// the network failed); `reset()` reconnects it.
    public var isBroken: Bool {
        guard let handle else { return true }
        return PQstatus(handle) != CONNECTION_OK
    }

    /// True while a transaction is open on the server, whether or not a statement in it failed.
    public var isInTransaction: Bool {
        guard let handle else { return false }
        let status = PQtransactionStatus(handle)
        return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE
    }

    /// Runs one statement with `arguments` bound to `$1`, `$2`, … and returns what it returned.
    ///
    /// Integers go as int8, doubles as float8 and bytes as bytea (binary, exact); text goes
    /// untyped so the server reads it as whatever type the statement needs there.
    /// - Throws: `PostgresError` with the server's SQLSTATE; 22P05 for text holding a NUL
    ///   character, which PostgreSQL cannot store.
    @discardableResult
    public func execute(_ sql: String, _ arguments: [SQLValue] = []) throws(PostgresError) -> PostgresResult {
        let handle = try openHandle(sql: sql)
        var types: [Oid] = []
        var values: [UnsafeMutablePointer<CChar>?] = []
        var lengths: [Int32] = []
        var formats: [Int32] = []
        defer {
            for value in values { value?.deallocate() }
        }
        for argument in arguments {
            let parameter = try Parameter(argument, sql: sql)
            types.append(parameter.type)
            lengths.append(Int32(parameter.bytes?.count ?? 0))
            formats.append(parameter.binary ? 1 : 0)
            values.append(parameter.bytes.map(Self.copyTerminated))
        }
        let result = PQexecParams(
            handle,
            sql,
            Int32(arguments.count),
            types,
            values.map { UnsafePointer($0) },
            lengths,
            formats,
            1
        )
        defer { PQclear(result) }
        let succeeded = try check(result, handle: handle, sql: sql)
        return try PostgresResult(copying: succeeded, sql: sql)
    }

    /// Runs one or more statements that bind nothing (DDL, migrations), in one round trip.
    /// Unless the script has its own BEGIN/COMMIT, the statements run as one transaction.
    public func executeScript(_ sql: String) throws(PostgresError) {
        let handle = try openHandle(sql: sql)
        let result = PQexec(handle, sql)
        defer { PQclear(result) }
        _ = try check(result, handle: handle, sql: sql)
    }

    /// Runs `body` in a transaction; commits if it returns, rolls back if it throws.
    ///
    /// A statement that failed inside `body` aborts the transaction even if `body` caught the
    /// error; PostgreSQL would then turn COMMIT into a silent rollback, so this throws 25P02.
    @discardableResult
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN")
        do {
            let result = try body()
            if let handle, PQtransactionStatus(handle) == PQTRANS_INERROR {
                throw PostgresError(
                    sqlState: "25P02",
                    message: "a statement in the transaction failed, so it was rolled back",
                    sql: "COMMIT"
                )
            }
            try execute("COMMIT")
            return result
        } catch {
            if isInTransaction { try? executeScript("ROLLBACK") }
            throw error
        }
    }

    /// Reconnects with the same parameters and sets the session up again.
    /// - Throws: `PostgresError` 08000 when the server still cannot be reached.
    public func reset() throws(PostgresError) {
        guard let handle else { throw Self.closedError(sql: nil) }
        PQreset(handle)
        guard PQstatus(handle) == CONNECTION_OK else { throw PostgresError.connectionFailure(handle) }
        try configureSession()
    }

    /// Ends the connection; later statements throw 08003.
    public func close() {
        if let handle { PQfinish(handle) }
        handle = nil
    }

    /// Reads anything the server sent while the connection sat idle, so a connection the
    /// server closed (restart, admin shutdown, idle timeout) shows as `isBroken` before the
    /// next statement fails on it. Costs one non-blocking `poll` when nothing arrived.
    func refreshStatus() {
        guard let handle, PQstatus(handle) == CONNECTION_OK, !isInTransaction else { return }
        // Bounded: a server streaming notices cannot keep this loop going.
        for _ in 0..<64 {
            let socket = PQsocket(handle)
            guard socket >= 0 else { return }
            var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            // On end of file libpq marks the connection bad and PQconsumeInput returns 0.
            guard poll(&descriptor, 1, 0) > 0, PQconsumeInput(handle) != 0 else { return }
        }
    }

    /// Times in UTC whatever the server's default, and every commit waits for the WAL flush.
    private func configureSession() throws(PostgresError) {
        try executeScript("SET TIME ZONE 'UTC'; SET synchronous_commit = on; SET search_path = iolog")
    }

    private func openHandle(sql: String) throws(PostgresError) -> OpaquePointer {
        guard let handle else { throw Self.closedError(sql: sql) }
        return handle
    }

    /// Returns `result` when the statement succeeded; throws its error otherwise.
    private func check(_ result: OpaquePointer?, handle: OpaquePointer, sql: String) throws(PostgresError) -> OpaquePointer {
        guard let result else {
            // libpq returns no result at all when it could not send the statement.
            throw PostgresError.from(result: nil, connection: handle, sql: sql)
        }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else {
            throw PostgresError.from(result: result, connection: handle, sql: sql)
        }
        return result
    }

    private static func closedError(sql: String?) -> PostgresError {
        PostgresError(sqlState: "08003", message: "the connection is closed", sql: sql)
    }

    /// `PQconnectdbParams` with Swift strings; libpq keeps its own copies.
    private static func connect(keywords: [String], values: [String]) -> OpaquePointer? {
        let keywordPointers = keywords.map { strdup($0) } + [nil]
        let valuePointers = values.map { strdup($0) } + [nil]
        defer {
            for pointer in keywordPointers + valuePointers { free(pointer) }
        }
        return PQconnectdbParams(
            keywordPointers.map { UnsafePointer($0) },
            valuePointers.map { UnsafePointer($0) },
            1
        )
    }

    /// A heap copy of `bytes` with a NUL after them: text parameters are C strings, and the
    /// pointer of an empty bytea must still be non-nil (nil means NULL).
    private static func copyTerminated(_ bytes: [UInt8]) -> UnsafeMutablePointer<CChar> {
        let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
        let buffer = UnsafeMutableRawBufferPointer(start: pointer, count: bytes.count + 1)
        buffer.copyBytes(from: bytes)
        buffer[bytes.count] = 0
        return pointer
    }
}

/// How one `SQLValue` travels to the server: its bytes, their format and the type it is declared as.
private struct Parameter {
    /// The value's bytes, nil for NULL.
    let bytes: [UInt8]?
    /// True for binary format, false for text.
    let binary: Bool
    /// The declared type OID; 0 lets the server infer it from the statement.
    let type: Oid

    init(_ value: SQLValue, sql: String) throws(PostgresError) {
        switch value {
        case .null:
            self.init(bytes: nil, binary: false, type: 0)
        case .integer(let number):
            self.init(bytes: Array(String(number).utf8), binary: false, type: 20)  // int8
        case .real(let number):
            self.init(bytes: Array(Self.text(of: number).utf8), binary: false, type: 701)  // float8
        case .text(let text):
            // Text parameters are C strings: a NUL would silently cut the value short.
            guard !text.utf8.contains(0) else {
                throw PostgresError(sqlState: "22P05", message: "data exception", sql: sql)
            }
            self.init(bytes: Array(text.utf8), binary: false, type: 0)
        case .blob(let bytes):
            self.init(bytes: bytes, binary: true, type: 17)  // bytea
        }
    }

    private init(bytes: [UInt8]?, binary: Bool, type: Oid) {
        self.bytes = bytes
        self.binary = binary
        self.type = type
    }

    /// float8 input syntax: Swift's shortest round-tripping digits, and PostgreSQL's spelling
    /// of the special values (Swift would write "nan", "-nan", "inf").
    private static func text(of number: Double) -> String {
        if number.isNaN { return "NaN" }
        if number.isInfinite { return number < 0 ? "-Infinity" : "Infinity" }
        return "\(number)"
    }
}
