import CLibPQ

/// What one statement returned, copied out of libpq's `PGresult` so the result can be freed
/// at once and the rows can leave the connection's thread (`Sendable`).
public struct PostgresResult: Sendable {
    /// Column names, in order.
    public let columnNames: [String]
    /// Every row the statement returned.
    public let rows: [PostgresRow]
    /// Rows inserted, updated, deleted (or selected) according to the command tag; 0 for
    /// commands that report no count.
    public let affectedRows: Int

    /// How many rows the statement returned.
    public var rowCount: Int { rows.count }

    /// The first row, if any.
    public var first: PostgresRow? { rows.first }

    /// Copies every cell of `result`. Freeing `result` stays the caller's job.
    /// - Throws: `PostgresError` 0A000 for a column type `PostgresCell` does not decode.
    init(copying result: OpaquePointer, sql: String) throws(PostgresError) {
        let columnCount = PQnfields(result)
        let rowCount = PQntuples(result)
        var names: [String] = []
        var decoders: [PostgresCell] = []
        for column in 0..<columnCount {
            let name = PQfname(result, column).map { String(cString: $0) } ?? ""
            let type = PQftype(result, column)
            guard let cell = PostgresCell(type: type, binary: PQfformat(result, column) == 1) else {
                throw PostgresError(
                    sqlState: "0A000",
                    message: "column \(column) (\(name)) has type OID \(type), which iolog does not decode;"
                        + " cast it in SQL (::bigint, ::double precision, ::text)",
                    sql: sql
                )
            }
            names.append(name)
            decoders.append(cell)
        }
        var rows: [PostgresRow] = []
        rows.reserveCapacity(Int(rowCount))
        for row in 0..<rowCount {
            var values: [SQLValue] = []
            values.reserveCapacity(Int(columnCount))
            for column in 0..<columnCount {
                if PQgetisnull(result, row, column) != 0 {
                    values.append(.null)
                    continue
                }
                let bytes = UnsafeRawBufferPointer(
                    start: PQgetvalue(result, row, column),
                    count: Int(PQgetlength(result, row, column))
                )
                guard let value = decoders[Int(column)].decode(bytes) else {
                    throw PostgresError(
                        sqlState: "XX000",
                        message: "column \(column) (\(names[Int(column)])) has a malformed binary value",
                        sql: sql
                    )
                }
                values.append(value)
            }
            rows.append(PostgresRow(values: values))
        }
        self.columnNames = names
        self.rows = rows
        self.affectedRows = PQcmdTuples(result).flatMap { Int(String(cString: $0)) } ?? 0
    }
}

/// How one result column's bytes become a `SQLValue`: the only place that knows PostgreSQL's
/// binary formats (integers and floats are big-endian, bool is one byte, text and bytea are
/// the raw bytes).
///
/// Only the types iolog's queries return are decoded. Any other type (numeric, timestamps,
/// arrays…) is refused when the result arrives, so a query that needs one fails loudly in the
/// first test that runs it rather than reading as zero or garbage; cast it in SQL instead.
enum PostgresCell {
    case integer(byteCount: Int)
    case oid
    case real(byteCount: Int)
    case bool
    case text
    case blob
    case void

    /// The decoder for a column of type OID `type`; nil when iolog does not decode that type.
    init?(type: Oid, binary: Bool) {
        // Results of `executeScript` come in text format; iolog reads none of them.
        guard binary else {
            self = .text
            return
        }
        switch type {
        case 16: self = .bool  // bool
        case 17: self = .blob  // bytea
        case 18, 19, 25, 114, 705, 1042, 1043: self = .text  // "char", name, text, json, unknown, bpchar, varchar
        case 20: self = .integer(byteCount: 8)  // int8
        case 21: self = .integer(byteCount: 2)  // int2
        case 23: self = .integer(byteCount: 4)  // int4
        case 26: self = .oid  // oid, an unsigned int4
        case 700: self = .real(byteCount: 4)  // float4
        case 701: self = .real(byteCount: 8)  // float8
        case 2278: self = .void  // void, e.g. SELECT pg_advisory_lock(…)
        default: return nil
        }
    }

    /// The value of one non-NULL cell, or nil when its length does not fit the type.
    func decode(_ bytes: UnsafeRawBufferPointer) -> SQLValue? {
        switch self {
        case .integer(let byteCount):
            guard bytes.count == byteCount else { return nil }
            let unsigned = bytes.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            // Sign-extend from the column's width.
            let shift = UInt64(64 - 8 * byteCount)
            return .integer(Int64(bitPattern: unsigned << shift) >> shift)
        case .oid:
            guard bytes.count == 4 else { return nil }
            return .integer(Int64(bytes.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }))
        case .real(let byteCount):
            guard bytes.count == byteCount else { return nil }
            let bits = bytes.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            if byteCount == 4 { return .real(Double(Float(bitPattern: UInt32(truncatingIfNeeded: bits)))) }
            return .real(Double(bitPattern: bits))
        case .bool:
            guard bytes.count == 1 else { return nil }
            return .integer(bytes[0] == 0 ? 0 : 1)
        case .text:
            return .text(String(decoding: bytes, as: UTF8.self))
        case .blob:
            return .blob(Array(bytes))
        case .void:
            return .null
        }
    }
}

/// One row of a `PostgresResult`, with the same accessors as SQLite's `Row` so storage code
/// reads both alike.
///
/// Integers (int2, int4, int8, bool as 0/1) are `.integer`, floats `.real`, text types
/// `.text`, bytea `.blob`. Like SQLite's accessors, these never trap: NULL, a column index out
/// of range or a value of another kind reads as 0, "" or empty, except for the lossless
/// conversions noted on each accessor.
public struct PostgresRow: Sendable, Equatable {
    /// The row's cells, in column order.
    public let values: [SQLValue]

    public init(values: [SQLValue]) { self.values = values }

    /// Column `index` as stored (`.null` when out of range).
    public func value(_ index: Int32) -> SQLValue {
        values.indices.contains(Int(index)) ? values[Int(index)] : .null
    }

    /// True if column `index` is NULL.
    public func isNull(_ index: Int32) -> Bool { value(index) == .null }

    /// Column `index` as an integer (0 for NULL); a float converts when it is a whole number.
    public func int64(_ index: Int32) -> Int64 {
        switch value(index) {
        case .integer(let number): number
        case .real(let number): Int64(exactly: number) ?? 0
        default: 0
        }
    }

    /// Column `index` as an integer, or nil for NULL.
    public func optionalInt64(_ index: Int32) -> Int64? { isNull(index) ? nil : int64(index) }

    /// Column `index` as a double (0 for NULL); integers convert.
    public func double(_ index: Int32) -> Double {
        switch value(index) {
        case .real(let number): number
        case .integer(let number): Double(number)
        default: 0
        }
    }

    /// Column `index` as a double, or nil for NULL.
    public func optionalDouble(_ index: Int32) -> Double? { isNull(index) ? nil : double(index) }

    /// Column `index` as a boolean: true for a non-zero integer (false for NULL).
    public func bool(_ index: Int32) -> Bool { int64(index) != 0 }

    /// Column `index` as text ("" for NULL).
    public func text(_ index: Int32) -> String {
        if case .text(let text) = value(index) { return text }
        return ""
    }

    /// Column `index` as text, or nil for NULL.
    public func optionalText(_ index: Int32) -> String? { isNull(index) ? nil : text(index) }

    /// Column `index` as bytes (empty for NULL); text converts to its UTF-8 bytes.
    public func blob(_ index: Int32) -> [UInt8] {
        switch value(index) {
        case .blob(let bytes): bytes
        case .text(let text): Array(text.utf8)
        default: []
        }
    }

    /// Column `index` as bytes, or nil for NULL.
    public func optionalBlob(_ index: Int32) -> [UInt8]? { isNull(index) ? nil : blob(index) }
}
