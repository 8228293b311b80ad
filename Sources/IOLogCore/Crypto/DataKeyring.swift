import Foundation

/// One account's data key, unwrapped, with the version recorded in every body it seals.
public struct DataKey: Sendable {
    public let accountID: String
    public let version: UInt32
    public let key: SymmetricKey
}

/// The accounts' data keys, stored only wrapped by the master key, in the engine's keyring
/// (`KeyStore`), apart from the log data. Wrapping and unwrapping happen here; the engine only
/// stores opaque wrapped keys.
///
/// Unwrapped keys are not cached: each use reads the keyring, so a key destroyed by
/// `iolog deletion run` in another process (or on another replica) is unusable here at once.
public final class DataKeyring: Sendable {
    private static let checkPlaintext = Array("iolog keyring check".utf8)
    private static let checkLabel = "iolog.keyring.check.v1"
    private static let wrapLabel = "iolog.data-key.v1"

    private let keys: any KeyStore
    private let masterKey: MasterKey
    private let clock: Clock

    /// A keyring over `keys`; `verifyMasterKey()` checks the key before first use.
    public init(keys: any KeyStore, masterKey: MasterKey, clock: Clock = .system) {
        self.keys = keys
        self.masterKey = masterKey
        self.clock = clock
    }

    /// A keyring over `keys` whose master key is verified.
    public static func open(keys: any KeyStore, masterKey: MasterKey, clock: Clock = .system) async throws -> DataKeyring {
        let keyring = DataKeyring(keys: keys, masterKey: masterKey, clock: clock)
        try await keyring.verifyMasterKey()
        return keyring
    }

    private var now: Timestamp { Timestamp(micros: clock.nowMicros()) }

    /// Checks that the master key is the one the keyring was made with (a keyring's first use
    /// stores a check value sealed with it).
    public func verifyMasterKey() async throws {
        let key = masterKey.key
        let checkAAD = AssociatedData(label: Self.checkLabel).bytes
        let check = try await keys.masterKeyCheck(
            orStore: { try AESGCM.seal(Self.checkPlaintext, using: key, authenticating: checkAAD).combined },
            at: now
        )
        do {
            let opened = try AESGCM.open(AESGCM.SealedBox(combined: check), using: key, authenticating: checkAAD)
            guard opened == Self.checkPlaintext else { throw CryptoError.authenticationFailure }
        } catch {
            throw IOLogError.keyUnavailable("the master key does not match the keyring; is it the right key?")
        }
    }

    /// The newest data key of `accountID`, created on first use.
    public func currentKey(for accountID: String) async throws -> DataKey {
        // The common case reads; only an account's first key writes.
        if let stored = try await keys.newestKey(accountID: accountID) {
            return DataKey(
                accountID: accountID,
                version: stored.version,
                key: try unwrap(stored.wrapped, accountID: accountID, version: stored.version)
            )
        }
        let master = masterKey.key
        let stored = try await keys.createFirstKey(accountID: accountID, at: now) { version in
            try Self.wrap(try SymmetricKey.random(), accountID: accountID, version: version, master: master)
        }
        return DataKey(accountID: accountID, version: stored.version, key: try unwrap(stored.wrapped, accountID: accountID, version: stored.version))
    }

    /// The data key `version` of `accountID`; throws `keyUnavailable` if it was destroyed or never existed.
    public func key(for accountID: String, version: UInt32) async throws -> SymmetricKey {
        guard let wrapped = try await keys.key(accountID: accountID, version: version) else {
            throw IOLogError.keyUnavailable("no data key \(version) for account \(accountID) (destroyed or never created)")
        }
        return try unwrap(wrapped, accountID: accountID, version: version)
    }

    /// The wrapped form of every key of `accountID`, as stored (for erasure checks).
    public func wrappedKeys(for accountID: String) async throws -> [[UInt8]] {
        try await keys.wrappedKeys(accountID: accountID)
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
