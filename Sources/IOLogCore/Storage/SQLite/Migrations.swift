import IOLogSchema

/// One numbered schema change, from a `.sql` file in the repository's `schema/` folder.
public struct Migration: Sendable {
    /// Applied in ascending order; never reused.
    public let version: Int
    /// A short name, recorded with the version.
    public let name: String
    /// The statements to run, in one transaction.
    public let sql: String

    public init(version: Int, name: String, sql: [UInt8]) {
        self.version = version
        self.name = name
        self.sql = String(decoding: sql, as: UTF8.self)
    }
}

/// The ordered migrations of one database (the log database or the keyring).
public struct MigrationSet: Sendable {
    /// Which database these migrations build ("log" or "keyring"), for messages.
    public let name: String
    /// All migrations, in ascending version order.
    public let migrations: [Migration]

    /// The newest schema version this build knows.
    public var latestVersion: Int { migrations.last?.version ?? 0 }

    public init(name: String, migrations: [Migration]) {
        precondition(
            zip(migrations, migrations.dropFirst()).allSatisfy { $0.version < $1.version },
            "migrations of \(name) must be in ascending version order"
        )
        self.name = name
        self.migrations = migrations
    }

    /// Applies every migration newer than what `database` records, each in its own transaction.
    /// Refuses a database whose schema is newer than this build knows.
    public func apply(to database: Database) throws {
        try database.execute(
            String(decoding: EmbeddedSchema.sqliteMigrationsTable, as: UTF8.self)
        )
        let current = try appliedVersion(of: database)
        if current > latestVersion {
            throw IOLogError.schemaTooNew(
                "the \(name) database at \(database.path) has schema version \(current), "
                    + "but this iolog knows only up to \(latestVersion); run a newer iolog"
            )
        }
        for migration in migrations where migration.version > current {
            try database.transaction {
                try database.execute(migration.sql)
                try database.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ'))",
                    migration.version,
                    migration.name
                )
            }
        }
    }

    /// The highest version recorded in `database`, 0 for a new one.
    public func appliedVersion(of database: Database) throws -> Int {
        try database.queryFirst("SELECT coalesce(max(version), 0) FROM schema_migrations") { Int($0.int64(0)) } ?? 0
    }
}

extension MigrationSet {
    /// The log database: accounts, memberships, tokens, generations, audit events.
    public static let log = MigrationSet(name: "log", files: EmbeddedSchema.sqliteLog)

    /// The keyring: wrapped data keys, kept in a file of its own.
    public static let keyring = MigrationSet(name: "keyring", files: EmbeddedSchema.sqliteKeyring)

    init(name: String, files: [EmbeddedSchema.File]) {
        self.init(name: name, migrations: files.map { Migration(version: $0.version, name: $0.name, sql: $0.sql) })
    }
}
