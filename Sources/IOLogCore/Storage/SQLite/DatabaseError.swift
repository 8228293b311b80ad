import CSQLite

/// A SQLite failure: the extended result code, SQLite's message and the statement's SQL.
///
/// The SQL is iolog's own text with `?` placeholders; bound values (which may be
/// ciphertext or identifiers) are never part of it.
public struct DatabaseError: StorageFailure, Sendable, CustomStringConvertible {
    /// SQLite's extended result code, e.g. 2067 for `SQLITE_CONSTRAINT_UNIQUE`.
    public let extendedCode: Int32
    /// SQLite's message for the failure.
    public let message: String
    /// The statement that failed, if any.
    public let sql: String?

    /// The primary result code (`extendedCode & 0xff`).
    public var primaryCode: Int32 { extendedCode & 0xff }

    /// True for `SQLITE_BUSY` and `SQLITE_LOCKED`, which a retry may cure.
    public var isBusy: Bool { primaryCode == SQLITE_BUSY || primaryCode == SQLITE_LOCKED }

    /// True when a primary key or unique index refused a duplicate
    /// (`SQLITE_CONSTRAINT_PRIMARYKEY` 1555, `SQLITE_CONSTRAINT_UNIQUE` 2067: composite macros Swift cannot import).
    public var isUniquenessViolation: Bool { extendedCode == 1555 || extendedCode == 2067 }

    /// True when the file cannot be written or read for now: the disk or its quota is full
    /// (`SQLITE_FULL`), an I/O error (`SQLITE_IOERR`), a read-only file or file system
    /// (`SQLITE_READONLY`), a file that cannot be opened (`SQLITE_CANTOPEN`), out of memory, or
    /// still locked once the busy timeout ran out. Not corruption: that is harm, not absence.
    public var isUnavailability: Bool {
        [SQLITE_FULL, SQLITE_IOERR, SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_NOMEM, SQLITE_BUSY, SQLITE_LOCKED, SQLITE_PROTOCOL]
            .contains(primaryCode)
    }

    /// True when a constraint (unique, foreign key, check) refused the change.
    public var isConstraintViolation: Bool { primaryCode == SQLITE_CONSTRAINT }

    public init(extendedCode: Int32, message: String, sql: String? = nil) {
        self.extendedCode = extendedCode
        self.message = message
        self.sql = sql
    }

    public var description: String {
        var text = "SQLite error \(extendedCode): \(message)"
        if let sql { text += " (in \(sql))" }
        return text
    }
}
