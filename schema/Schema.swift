/// The numbered SQL migrations of every engine, compiled into the binary (one file to deploy).
///
/// The `.sql` files beside this one are the source of truth; this module only hands their
/// bytes to `IOLogCore`, which applies them (`MigrationSet`). File names: `log_NNNN_name.sql`
/// for the log database, `keyring_NNNN_name.sql` for the keyring, per engine folder.
public enum EmbeddedSchema {
    /// One migration file: its number, its name and its SQL.
    public struct File: Sendable {
        public let version: Int
        public let name: String
        public let sql: [UInt8]
    }

    /// SQLite: the log database, in the data folder's `iolog.sqlite`.
    public static let sqliteLog: [File] = [
        File(version: 1, name: "initial", sql: PackageResources.log_0001_initial_sql),
        File(version: 2, name: "sessions", sql: PackageResources.log_0002_sessions_sql),
        File(version: 3, name: "deletion_requests", sql: PackageResources.log_0003_deletion_requests_sql),
        File(version: 4, name: "access_and_boundaries", sql: PackageResources.log_0004_access_and_boundaries_sql),
        File(version: 5, name: "session_ids", sql: PackageResources.log_0005_session_ids_sql),
        File(version: 6, name: "ingest_tokens", sql: PackageResources.log_0006_ingest_tokens_sql),
        File(version: 7, name: "user_erasure", sql: PackageResources.log_0007_user_erasure_sql),
    ]

    /// SQLite: the keyring, in the data folder's `keyring.sqlite`.
    public static let sqliteKeyring: [File] = [
        File(version: 1, name: "initial", sql: PackageResources.keyring_0001_initial_sql),
        File(version: 2, name: "destroyed_keys", sql: PackageResources.keyring_0002_destroyed_keys_sql),
        File(version: 3, name: "rotation", sql: PackageResources.keyring_0003_rotation_sql),
    ]

    /// SQLite: the bookkeeping table of applied migrations, created before the first one.
    public static let sqliteMigrationsTable: [UInt8] = PackageResources.schema_migrations_sql

    /// PostgreSQL: the log data, in schema `iolog`.
    public static let postgresLog: [File] = [
        File(version: 1, name: "initial", sql: PackageResources.pg_log_0001_initial_sql),
        File(version: 2, name: "session_ids", sql: PackageResources.pg_log_0002_session_ids_sql),
        File(version: 3, name: "ingest_tokens", sql: PackageResources.pg_log_0003_ingest_tokens_sql),
        File(version: 4, name: "user_erasure", sql: PackageResources.pg_log_0004_user_erasure_sql),
    ]

    /// PostgreSQL: the keyring, in schema `iolog_keyring`.
    public static let postgresKeyring: [File] = [
        File(version: 1, name: "initial", sql: PackageResources.pg_keyring_0001_initial_sql),
        File(version: 2, name: "rotation", sql: PackageResources.pg_keyring_0002_rotation_sql),
    ]

    /// PostgreSQL: the bookkeeping table of one schema (`:schema` stands for its name).
    public static let postgresMigrationsTable: [UInt8] = PackageResources.pg_schema_migrations_sql
}
