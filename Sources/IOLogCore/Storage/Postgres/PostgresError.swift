import CLibPQ
import Foundation

/// A PostgreSQL failure: the SQLSTATE, the server's primary message and the statement's SQL.
///
/// Bound values never appear in it: the SQL is iolog's own text with `$n` placeholders, the
/// message is the server's primary message only (its DETAIL line quotes key values and is
/// dropped), and data exceptions (class 22), whose primary message can quote the rejected
/// value, are reported as just "data exception". Connection failures carry libpq's text,
/// which names the host and user but never the password (the connection string is not kept).
public struct PostgresError: StorageFailure, Sendable, CustomStringConvertible {
    /// The five-character SQLSTATE, e.g. "23505" for a unique violation, "08000" when
    /// connecting failed (libpq reports no SQLSTATE for that).
    public let sqlState: String
    /// The server's primary message, or libpq's for failures on the client side.
    public let message: String
    /// The first line of the statement that failed, if any.
    public let sql: String?

    public init(sqlState: String, message: String, sql: String? = nil) {
        self.sqlState = sqlState
        self.message = message
        self.sql = sql.map(Self.summary(of:))
    }

    /// True when a primary key or unique index refused a duplicate (23505).
    public var isUniquenessViolation: Bool { sqlState == "23505" }

    /// True when the connection is gone or could not be made: class 08, or the server shutting
    /// down or not yet accepting connections (57P01 admin shutdown, 57P02 crash shutdown,
    /// 57P03 cannot connect now). A retry on a new connection may cure it.
    public var isConnectionFailure: Bool {
        sqlState.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(sqlState)
    }

    /// True when the server cannot be reached or cannot write for now: a connection failure
    /// (`isConnectionFailure`), insufficient resources (class 53: disk full, out of memory, too
    /// many connections), a read-only transaction (25006: a standby, or
    /// `default_transaction_read_only`), an I/O error (58030) or a lock not available (55P03).
    public var isUnavailability: Bool {
        isConnectionFailure || sqlState.hasPrefix("53") || ["25006", "58030", "55P03"].contains(sqlState)
    }

    /// True when the server aborted the transaction to keep transactions serializable (40001)
    /// or to break a deadlock (40P01); running the whole transaction again may succeed.
    public var isSerializationFailure: Bool { sqlState == "40001" || sqlState == "40P01" }

    public var description: String {
        var text = "PostgreSQL error \(sqlState): \(message)"
        if let sql { text += " (in \(sql))" }
        return text
    }

    /// SQLSTATE for failures libpq detects on its own while connecting (`connection_exception`).
    static let connectionFailureState = "08000"

    /// A failure to connect or reconnect, from libpq's message for `connection`.
    static func connectionFailure(_ connection: OpaquePointer?) -> PostgresError {
        let text = connection.flatMap { PQerrorMessage($0) }.map { String(cString: $0) } ?? ""
        let message = oneLine(text)
        return PostgresError(
            sqlState: connectionFailureState,
            message: message.isEmpty ? "cannot connect to the server" : message
        )
    }

    /// The error a failed `PGresult` reports. Results libpq made itself (the connection
    /// dropped, a protocol failure) have no SQLSTATE: those count as connection failures when
    /// the connection is now unusable, internal errors (XX000) otherwise.
    static func from(result: OpaquePointer?, connection: OpaquePointer, sql: String?) -> PostgresError {
        let state = result.flatMap { field($0, IOLOG_PG_DIAG_SQLSTATE) }
        guard let state else {
            let broken = PQstatus(connection) != CONNECTION_OK
            let text = result.flatMap { PQresultErrorMessage($0) }.map { String(cString: $0) } ?? ""
            let fallback = String(cString: PQerrorMessage(connection))
            let message = oneLine(text.isEmpty ? fallback : text)
            return PostgresError(
                sqlState: broken ? connectionFailureState : "XX000",
                message: message.isEmpty ? "the server returned no result" : message,
                sql: sql
            )
        }
        let primary = result.flatMap { field($0, IOLOG_PG_DIAG_MESSAGE_PRIMARY) } ?? "the statement failed"
        return PostgresError(sqlState: state, message: state.hasPrefix("22") ? "data exception" : primary, sql: sql)
    }

    private static func field(_ result: OpaquePointer, _ code: Int32) -> String? {
        PQresultErrorField(result, code).map { String(cString: $0) }
    }

    /// libpq's multi-line messages ("connection to server … failed: FATAL: …\n") as one line.
    private static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
            .joined(separator: " ")
    }

    /// The first line of a statement, enough to find it in the code, short enough for a log line.
    private static func summary(of sql: String) -> String {
        let firstLine = sql.split(separator: "\n", omittingEmptySubsequences: true).first.map(String.init) ?? sql
        return firstLine.count > 120 ? String(firstLine.prefix(120)) + "…" : firstLine
    }
}
