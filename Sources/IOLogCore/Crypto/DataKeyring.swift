import Foundation

/// One account's data key, unwrapped, with the version recorded in every body it seals.
public struct DataKey: Sendable {
    public let accountID: String
    public let version: UInt32
    public let key: SymmetricKey
}

/// The accounts' data keys, stored only wrapped by the master key, in a SQLite file
/// apart from the log database.
///
/// Unwrapped keys are not cached: each use reads the keyring, so a key destroyed by
/// `iolog deletion run` in another process is unusable here at once.
public final class DataKeyring: Sendable {
    private static let checkPlaintext = Array("iolog keyring check".utf8)
    private static let checkLabel = "iolog.keyring.check.v1"
    private static let wrapLabel = "iolog.data-key.v1"

    private let database: DatabaseActor
    private let masterKey: MasterKey

    /// Opens (creating and migrating if needed) the keyring at `path` and checks that
    /// `masterKey` is the one it was made with.
    public init(path: String, masterKey: MasterKey) async throws {
        database = try DatabaseActor(path: path, migrations: .keyring)
        self.masterKey = masterKey
        let key = masterKey.key
        let checkAAD = AssociatedData(label: Self.checkLabel).bytes
        let check = try await database.write { db -> [UInt8] in
            if let sealed = try db.queryFirst("SELECT sealed FROM master_key_check WHERE id = 1", map: { $0.blob(0) }) {
                return sealed
            }
            let sealed = try AESGCM.seal(Self.checkPlaintext, using: key, authenticating: checkAAD).combined
            try db.execute(
                "INSERT INTO master_key_check (id, sealed, created_at) VALUES (1, ?, ?)",
                sealed,
                Clock.system.nowMicros()
            )
            return sealed
        }
        do {
            let opened = try AESGCM.open(AESGCM.SealedBox(combined: check), using: key, authenticating: checkAAD)
            guard opened == Self.checkPlaintext else { throw CryptoError.authenticationFailure }
        } catch {
            await database.close()
            throw IOLogError.keyUnavailable("the master key does not match the keyring at \(path); is it the right key?")
        }
    }

    /// The newest data key of `accountID`, created on first use.
    public func currentKey(for accountID: String) async throws -> DataKey {
        // The common case reads; only an account's first key takes the write lock.
        if let (version, wrapped) = try await database.read({ db in try Self.newestKey(of: accountID, in: db) }) {
            return DataKey(accountID: accountID, version: version, key: try unwrap(wrapped, accountID: accountID, version: version))
        }
        let master = masterKey.key
        let (version, wrapped) = try await database.write { db -> (UInt32, [UInt8]) in
            if let existing = try Self.newestKey(of: accountID, in: db) { return existing }
            // After an erasure the fresh key takes the next version, never a destroyed one's.
            let destroyed: Int64? =
                try db.queryFirst("SELECT max(version) FROM destroyed_keys WHERE account_id = ?", accountID) {
                    $0.optionalInt64(0)
                } ?? nil
            let version = UInt32((destroyed ?? 0) + 1)
            let fresh = try SymmetricKey.random()
            let wrapped = try Self.wrap(fresh, accountID: accountID, version: version, master: master)
            try db.execute(
                "INSERT INTO data_keys (account_id, version, wrapped, created_at) VALUES (?, ?, ?, ?)",
                accountID,
                Int64(version),
                wrapped,
                Clock.system.nowMicros()
            )
            return (version, wrapped)
        }
        return DataKey(accountID: accountID, version: version, key: try unwrap(wrapped, accountID: accountID, version: version))
    }

    private static func newestKey(of accountID: String, in db: Database) throws -> (UInt32, [UInt8])? {
        try db.queryFirst(
            "SELECT version, wrapped FROM data_keys WHERE account_id = ? ORDER BY version DESC LIMIT 1",
            accountID
        ) { (UInt32($0.int64(0)), $0.blob(1)) }
    }

    /// The data key `version` of `accountID`; throws `keyUnavailable` if it was destroyed or never existed.
    public func key(for accountID: String, version: UInt32) async throws -> SymmetricKey {
        let wrapped = try await database.read { db in
            try db.queryFirst(
                "SELECT wrapped FROM data_keys WHERE account_id = ? AND version = ?",
                accountID,
                Int64(version),
                map: { $0.blob(0) }
            )
        }
        guard let wrapped else {
            throw IOLogError.keyUnavailable("no data key \(version) for account \(accountID) (destroyed or never created)")
        }
        return try unwrap(wrapped, accountID: accountID, version: version)
    }

    /// The wrapped form of every key of `accountID`, as stored (for erasure checks).
    public func wrappedKeys(for accountID: String) async throws -> [[UInt8]] {
        try await database.read { db in
            try db.query("SELECT wrapped FROM data_keys WHERE account_id = ? ORDER BY version", accountID) { $0.blob(0) }
        }
    }

    /// Closes the keyring's connection.
    public func close() async {
        await database.close()
    }

    private func unwrap(_ wrapped: [UInt8], accountID: String, version: UInt32) throws -> SymmetricKey {
        do {
            let aad = Self.wrapAAD(accountID: accountID, version: version)
            var bytes = try AESGCM.open(AESGCM.SealedBox(combined: wrapped), using: masterKey.key, authenticating: aad)
            defer { wipe(&bytes) }
            return try SymmetricKey(bytes: bytes)
        } catch {
            throw IOLogError.keyUnavailable("data key \(version) of account \(accountID) does not unwrap: \(error)")
        }
    }

    static func wrap(_ key: SymmetricKey, accountID: String, version: UInt32, master: SymmetricKey) throws -> [UInt8] {
        let aad = wrapAAD(accountID: accountID, version: version)
        return try key.withUnsafeBytes { bytes in
            try AESGCM.seal(bytes, using: master, authenticating: aad).combined
        }
    }

    private static func wrapAAD(accountID: String, version: UInt32) -> [UInt8] {
        var aad = AssociatedData(label: wrapLabel)
        aad.append(accountID)
        aad.append(version)
        return aad.bytes
    }
}

/// Destroys data keys (crypto-shredding) in the keyring file, without the master key: support
/// staff running `iolog deletion run` need not hold it, since destroying a wrapped key needs no
/// unwrapping.
public final class KeyShredder: Sendable {
    private let database: DatabaseActor

    /// Opens (creating and migrating if needed) the keyring at `path`.
    public init(path: String) throws {
        database = try DatabaseActor(path: path, migrations: .keyring)
    }

    /// The number of data keys `accountID` has now.
    public func keyCount(for accountID: String) async throws -> Int {
        try await database.read { db in
            Int(try db.queryFirst("SELECT count(*) FROM data_keys WHERE account_id = ?", accountID) { $0.int64(0) } ?? 0)
        }
    }

    /// Crypto-shredding: deletes every data key of `accountID` (recording only the versions),
    /// then checkpoints and truncates the keyring's WAL so the wrapped keys are in no file.
    /// Everything sealed with them, in this database or any backup of it, is unreadable from
    /// this moment. Returns how many keys were destroyed.
    public func destroyKeys(of accountID: String, at time: Timestamp) async throws -> Int {
        let destroyed = try await database.write { db in
            try db.execute(
                """
                INSERT OR IGNORE INTO destroyed_keys (account_id, version, destroyed_at)
                SELECT account_id, version, ? FROM data_keys WHERE account_id = ?
                """,
                time.micros,
                accountID
            )
            return try db.execute("DELETE FROM data_keys WHERE account_id = ?", accountID)
        }
        try await truncateWAL()
        return destroyed
    }

    /// Checkpoints the keyring's WAL into the database file and truncates it.
    public func truncateWAL() async throws {
        try await database.read { db in try db.truncateWALWaiting() }
    }

    /// Closes the connection.
    public func close() async {
        await database.close()
    }
}
