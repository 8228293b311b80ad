import CSQLite

/// A compiled statement, finalized when dropped.
public final class Statement {
    /// The `sqlite3_stmt`, for callers that bind through the C API themselves (benchmarks).
    public let pointer: OpaquePointer
    private let database: Database
    private let sql: String

    init(pointer: OpaquePointer, database: Database, sql: String) {
        self.pointer = pointer
        self.database = database
        self.sql = sql
    }

    /// Lent out by `Database.withStatement`.
    var inUse = false

    deinit { sqlite3_finalize(pointer) }

    /// Ends the statement's current run (releasing its read) and drops its bindings.
    func finish() {
        sqlite3_reset(pointer)
        sqlite3_clear_bindings(pointer)
    }

    /// How many columns a row of this statement has.
    public var columnCount: Int32 { sqlite3_column_count(pointer) }

    /// Binds `arguments` to `?1`, `?2`, … in order, after clearing earlier bindings.
    public func bind(_ arguments: [any SQLBindable]) throws(DatabaseError) {
        sqlite3_reset(pointer)
        sqlite3_clear_bindings(pointer)
        for (offset, argument) in arguments.enumerated() {
            let index = Int32(offset + 1)
            let status: Int32 =
                switch argument.sqlValue {
                case .null: sqlite3_bind_null(pointer, index)
                case .integer(let value): sqlite3_bind_int64(pointer, index, value)
                case .real(let value): sqlite3_bind_double(pointer, index, value)
                case .text(let value):
                    value.utf8CString.withUnsafeBufferPointer {
                        iolog_sqlite3_bind_text_transient(pointer, index, $0.baseAddress, Int32($0.count - 1))
                    }
                case .blob(let value):
                    value.withUnsafeBytes {
                        // A zero-length blob must still be a blob, not NULL, so never pass a nil pointer.
                        iolog_sqlite3_bind_blob_transient(pointer, index, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32($0.count))
                    }
                }
            guard status == SQLITE_OK else { throw database.error(sql: sql) }
        }
    }

    /// Advances to the next row; false when the statement is done.
    public func step() throws(DatabaseError) -> Bool {
        switch sqlite3_step(pointer) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let error = database.error(sql: sql)
            sqlite3_reset(pointer)
            throw error
        }
    }
}

/// The current row of a statement; valid only inside the mapping closure.
public struct Row {
    private let statement: Statement

    public init(statement: Statement) { self.statement = statement }

    /// True if column `index` is NULL.
    public func isNull(_ index: Int32) -> Bool { sqlite3_column_type(statement.pointer, index) == SQLITE_NULL }

    /// Column `index` as an integer (0 for NULL).
    public func int64(_ index: Int32) -> Int64 { sqlite3_column_int64(statement.pointer, index) }

    /// Column `index` as an integer, or nil for NULL.
    public func optionalInt64(_ index: Int32) -> Int64? { isNull(index) ? nil : int64(index) }

    /// Column `index` as a double, or nil for NULL.
    public func optionalDouble(_ index: Int32) -> Double? {
        isNull(index) ? nil : sqlite3_column_double(statement.pointer, index)
    }

    /// Column `index` as text ("" for NULL).
    public func text(_ index: Int32) -> String {
        guard let bytes = sqlite3_column_text(statement.pointer, index) else { return "" }
        let count = Int(sqlite3_column_bytes(statement.pointer, index))
        return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    }

    /// Column `index` as text, or nil for NULL.
    public func optionalText(_ index: Int32) -> String? { isNull(index) ? nil : text(index) }

    /// Column `index` as bytes (empty for NULL).
    public func blob(_ index: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(statement.pointer, index))
        guard count > 0, let bytes = sqlite3_column_blob(statement.pointer, index) else { return [] }
        return Array(UnsafeRawBufferPointer(start: bytes, count: count))
    }

    /// Column `index` as bytes, or nil for NULL.
    public func optionalBlob(_ index: Int32) -> [UInt8]? { isNull(index) ? nil : blob(index) }
}
