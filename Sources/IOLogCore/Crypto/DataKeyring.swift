import Foundation
import Synchronization

/// One account's data key, unwrapped, with the version recorded in every body it seals.
public struct DataKey: Sendable {
    public let accountID: String
    public let version: UInt32
    public let key: SymmetricKey
}

/// When an account's current data key is replaced for new writes (DESIGN §5).
public struct KeyRolloverPolicy: Sendable, Equatable {
    /// Seals (random 96-bit GCM nonces) under one key. NIST SP 800-38D bounds random nonces to
    /// 2^32 per key; 2^28 keeps the chance of a repeated nonce below 2^-41.
    public var maximumSeals: Int64
    /// Age after which a key seals nothing more, in microseconds.
    public var maximumAgeMicros: Int64

    public static let `default` = KeyRolloverPolicy(maximumSeals: 1 << 28, maximumAgeMicros: 90 * 86_400_000_000)
    /// The smallest `maximumSeals` accepted: one generation seals up to three bodies.
    public static let minimumSeals: Int64 = 3

    public init(maximumSeals: Int64, maximumAgeMicros: Int64) {
        self.maximumSeals = maximumSeals
        self.maximumAgeMicros = maximumAgeMicros
    }

    /// Seals reserved in the keyring at a time by one process: a restart forgets at most one
    /// block per account (counted as used, the safe direction), and a busy account writes to
    /// the keyring once per block.
    var reservationBlock: Int64 { min(max(maximumSeals / 4096, 1), 65_536) }
}

/// The accounts' data keys, stored only wrapped by the master key, in the engine's keyring
/// (`KeyStore`), apart from the log data. Wrapping and unwrapping happen here; the engine only
/// stores opaque wrapped keys, each with the id of the master key that wrapped it.
///
/// Keys are not cached for reading: each read unwraps what the keyring holds now, so a key
/// destroyed by `iolog deletion run` in another process (or on another replica) is unusable
/// here at once. The key that seals new bodies is leased: a block of seals is reserved in the
/// keyring and the unwrapped key kept in memory until the block is used or the key is too old,
/// so ingest reads the keyring once per block, not once per request. Sealing with a destroyed
/// key cannot store anything: the insert checks, in its own transaction, that its key still
/// exists, and the ingest then ends the lease and seals again with the account's new key.
public final class DataKeyring: Sendable {
    private static let checkPlaintext = Array("iolog keyring check".utf8)
    private static let checkLabel = "iolog.keyring.check.v1"
    private static let wrapLabel = "iolog.data-key.v1"

    private struct Lease {
        let key: DataKey
        var remaining: Int64
        let expiresAt: Int64
    }

    private let keys: any KeyStore
    private let masterKeys: [MasterKey]
    private let rollover: KeyRolloverPolicy
    private let clock: Clock
    private let leases = Mutex<[String: Lease]>([:])
    private let metrics: ServiceMetrics

    /// A keyring over `keys`; `verifyMasterKey()` checks the key before first use.
    /// `previousMasterKey` is the key a master-key rotation moves away from: during the rollout
    /// data keys are wrapped by one or the other.
    public init(
        keys: any KeyStore,
        masterKey: MasterKey,
        previousMasterKey: MasterKey? = nil,
        rollover: KeyRolloverPolicy = .default,
        clock: Clock = .system,
        metrics: ServiceMetrics = .disabled
    ) {
        self.keys = keys
        self.metrics = metrics
        masterKeys = [masterKey] + (previousMasterKey.map { [$0] } ?? [])
        self.rollover = rollover
        self.clock = clock
    }

    /// A keyring over `keys` whose master key is verified.
    public static func open(
        keys: any KeyStore,
        masterKey: MasterKey,
        previousMasterKey: MasterKey? = nil,
        rollover: KeyRolloverPolicy = .default,
        clock: Clock = .system
    ) async throws -> DataKeyring {
        let keyring = DataKeyring(keys: keys, masterKey: masterKey, previousMasterKey: previousMasterKey, rollover: rollover, clock: clock)
        try await keyring.verifyMasterKey()
        return keyring
    }

    private var nowMicros: Int64 { clock.nowMicros() }

    /// Checks that this process holds a master key the keyring is under (or, during a
    /// rotation, moving to); a keyring's first use records the key with a sealed check value.
    /// A keyring written before master-key ids were recorded learns the id here.
    public func verifyMasterKey() async throws {
        let first = masterKeys[0]
        let state = try await keys.masterKeyState(
            orStore: { MasterKeyState(keyID: first.id, sealed: try Self.sealCheck(with: first)) },
            at: Timestamp(micros: nowMicros)
        )
        guard let keyID = state.keyID else {
            guard let owner = masterKeys.first(where: { Self.opensCheck(state.sealed, with: $0) }) else {
                throw mismatch(state)
            }
            try await keys.adoptMasterKeyID(owner.id)
            return
        }
        let current = masterKeys.contains { $0.id == keyID && Self.opensCheck(state.sealed, with: $0) }
        let next = masterKeys.contains { key in
            key.id == state.nextKeyID && state.nextSealed.map { Self.opensCheck($0, with: key) } == true
        }
        guard current || next else { throw mismatch(state) }
    }

    private func mismatch(_ state: MasterKeyState) -> IOLogError {
        let held = masterKeys.map(\.id).joined(separator: " and ")
        let under = state.keyID.map { "master key \($0)" } ?? "another master key"
        let moving = state.nextKeyID.map { ", rotating to \($0)" } ?? ""
        return IOLogError.keyUnavailable(
            "the master key does not match the keyring: this process holds \(held), the keyring is under \(under)\(moving); is it the right key?"
        )
    }

    static func sealCheck(with master: MasterKey) throws -> [UInt8] {
        try AESGCM.seal(checkPlaintext, using: master.key, authenticating: AssociatedData(label: checkLabel).bytes).combined
    }

    static func opensCheck(_ sealed: [UInt8], with master: MasterKey) -> Bool {
        let aad = AssociatedData(label: checkLabel).bytes
        guard let box = try? AESGCM.SealedBox(combined: sealed), let opened = try? AESGCM.open(box, using: master.key, authenticating: aad)
        else { return false }
        return opened == checkPlaintext
    }

    /// The account's current data key with `seals` seals reserved for the caller (created on
    /// first use; replaced by a new one once the current one reached the rollover policy's
    /// seal count or age).
    public func sealingKey(for accountID: String, seals: Int) async throws -> DataKey {
        try await sealingKeys(for: accountID, seals: [seals])[0]
    }

    /// One data key per generation of a batch, `seals[i]` seals reserved for the i-th; a
    /// rollover in the middle of the batch gives the later generations the new key.
    ///
    /// While this process holds a lease with seals left on a key young enough, no keyring read
    /// is needed: the seals were reserved in the keyring, so they are this process's to use
    /// whatever other processes do meanwhile. A key destroyed meanwhile is caught by the
    /// insert's own transaction (`InsertOutcome.keyDestroyed`), whose caller ends the lease
    /// (`endLease`) and seals again.
    public func sealingKeys(for accountID: String, seals: [Int]) async throws -> [DataKey] {
        let now = nowMicros
        var result: [DataKey] = []
        result.reserveCapacity(seals.count)
        for seals in seals {
            let count = Int64(seals)
            precondition(count >= 0 && count <= KeyRolloverPolicy.minimumSeals, "a generation seals at most three bodies")
            let leased: DataKey? = leases.withLock { leases in
                guard var lease = leases[accountID] else { return nil }
                guard lease.remaining >= count, now < lease.expiresAt else {
                    leases[accountID] = nil
                    return nil
                }
                lease.remaining -= count
                leases[accountID] = lease
                return lease.key
            }
            if let leased {
                result.append(leased)
            } else {
                result.append(try await lease(accountID: accountID, seals: count, now: now))
            }
        }
        return result
    }

    /// Forgets the lease on `version` of the account's key (it was destroyed): the next seal
    /// reads the keyring again.
    public func endLease(accountID: String, version: UInt32) {
        leases.withLock { leases in
            if leases[accountID]?.key.version == version { leases[accountID] = nil }
        }
    }

    /// The account's current data key (tests and tools: reserves one generation's seals).
    public func currentKey(for accountID: String) async throws -> DataKey {
        try await sealingKey(for: accountID, seals: Int(KeyRolloverPolicy.minimumSeals))
    }

    /// Reserves a block of seals on the newest key, or makes a new key when the newest is full,
    /// too old or missing. Another process may make the new key first; then its key is used.
    private func lease(accountID: String, seals: Int64, now: Int64) async throws -> DataKey {
        let block = max(seals, rollover.reservationBlock)
        let youngest = Timestamp(micros: now - rollover.maximumAgeMicros)
        for _ in 0..<8 {
            let newest = try await keys.newestKey(accountID: accountID)
            if let newest, newest.createdAt > youngest {
                // Unwrapped first: a process that cannot unwrap it must not spend a block of seals.
                let key = try unwrap(newest)
                if try await keys.reserveSeals(
                    accountID: accountID,
                    version: newest.version,
                    count: block,
                    limit: rollover.maximumSeals,
                    createdAfter: youngest
                ) {
                    return keep(key, remaining: block - seals, createdAt: newest.createdAt)
                }
            }
            let masterKeys = masterKeys
            let created = try await keys.createKey(accountID: accountID, replacing: newest?.version) { version, target in
                guard let master = masterKeys.first(where: { target == nil || $0.id == target }) else {
                    throw IOLogError.keyUnavailable(
                        "new data keys must be wrapped by master key \(target ?? "-"), which this process does not hold; "
                            + "restart it with that key (a master-key rotation is under way or finished)"
                    )
                }
                return WrappedDataKey(
                    accountID: accountID,
                    version: version,
                    wrapped: try Self.wrap(try SymmetricKey.random(), accountID: accountID, version: version, master: master.key),
                    masterKeyID: master.id,
                    createdAt: Timestamp(micros: now),
                    seals: block
                )
            }
            if let created {
                if newest != nil { metrics.dataKeyRolledOver() }
                return keep(try unwrap(created), remaining: block - seals, createdAt: created.createdAt)
            }
        }
        throw IOLogError.keyUnavailable("the data key of account \(accountID) keeps changing under this process; try again")
    }

    private func keep(_ key: DataKey, remaining: Int64, createdAt: Timestamp) -> DataKey {
        let expiresAt = createdAt.micros + rollover.maximumAgeMicros
        leases.withLock { $0[key.accountID] = Lease(key: key, remaining: remaining, expiresAt: expiresAt) }
        return key
    }

    /// The data key `version` of `accountID`; throws `keyUnavailable` if it was destroyed or never existed.
    public func key(for accountID: String, version: UInt32) async throws -> SymmetricKey {
        guard let stored = try await keys.key(accountID: accountID, version: version) else {
            throw IOLogError.keyUnavailable("no data key \(version) for account \(accountID) (destroyed or never created)")
        }
        return try unwrap(stored).key
    }

    /// The wrapped form of every key of `accountID`, as stored (for erasure checks).
    public func wrappedKeys(for accountID: String) async throws -> [[UInt8]] {
        try await keys.wrappedKeys(accountID: accountID)
    }

    private func unwrap(_ stored: WrappedDataKey) throws -> DataKey {
        let candidates = stored.masterKeyID.map { id in masterKeys.filter { $0.id == id } } ?? masterKeys
        guard !candidates.isEmpty else {
            throw IOLogError.keyUnavailable(
                "data key \(stored.version) of account \(stored.accountID) is wrapped by master key \(stored.masterKeyID ?? "-"), "
                    + "which this process does not hold (--master-key-file, --previous-master-key-file)"
            )
        }
        for master in candidates {
            if let key = try? Self.unwrap(stored, with: master.key) {
                return DataKey(accountID: stored.accountID, version: stored.version, key: key)
            }
        }
        throw IOLogError.keyUnavailable("data key \(stored.version) of account \(stored.accountID) does not unwrap with its master key")
    }

    static func unwrap(_ stored: WrappedDataKey, with master: SymmetricKey) throws -> SymmetricKey {
        let aad = wrapAAD(accountID: stored.accountID, version: stored.version)
        var bytes = try AESGCM.open(AESGCM.SealedBox(combined: stored.wrapped), using: master, authenticating: aad)
        defer { wipe(&bytes) }
        return try SymmetricKey(bytes: bytes)
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
