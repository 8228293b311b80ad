/// `iolog keys rotate-master`: rewraps every data key under a new master key, touching no
/// sealed body (DESIGN §5).
///
/// Safe to interrupt and run again: the keyring records the rotation's target first (with a
/// check value sealed by the new key), then each data key row is replaced whole, old wrapping
/// by new, in small transactions, so every key is always wrapped by exactly the master key its
/// row names. The keyring moves to the new key only in a transaction that finds no key left
/// under the old one. Processes started with `--master-key-file NEW --previous-master-key-file
/// OLD` read keys under either and wrap new ones with the rotation's target meanwhile.
public struct MasterKeyRotation: Sendable {
    public struct Report: Sendable, Equatable {
        public let from: String
        public let to: String
        /// Data keys rewrapped by this run.
        public let rewrapped: Int
        /// The keyring was already under the new key when this run started.
        public let alreadyDone: Bool
    }

    private let keys: any KeyStore
    private let store: any LogStore
    private let old: MasterKey
    private let new: MasterKey
    private let clock: Clock
    private let batchSize: Int

    public init(keys: any KeyStore, store: any LogStore, old: MasterKey, new: MasterKey, clock: Clock = .system, batchSize: Int = 500) {
        self.keys = keys
        self.store = store
        self.old = old
        self.new = new
        self.clock = clock
        self.batchSize = max(1, batchSize)
    }

    private var now: Timestamp { Timestamp(micros: clock.nowMicros()) }

    /// Runs the rotation to its end; `progress(done, total)` is called after each batch.
    public func run(actor: String, progress: @Sendable (Int, Int) -> Void = { _, _ in }) async throws -> Report {
        guard old.id != new.id else {
            throw IOLogError(.invalidInput, "the old and the new master key are the same key (id \(old.id))")
        }
        // A keyring never used has nothing to rotate, and is most likely not the one meant.
        guard try await keys.masterKeyState() != nil else {
            throw IOLogError(
                .refused,
                "this keyring has never been used (it holds no master key check): are --data-dir and --database-url the ones serve uses?"
            )
        }
        // Either key may be the keyring's (a finished rotation run again); anything else is refused.
        try await DataKeyring(keys: keys, masterKey: old, previousMasterKey: new, clock: clock).verifyMasterKey()
        guard var state = try await keys.masterKeyState() else { throw IOLogError.corrupted("the keyring has no master key check") }
        let alreadyDone = state.keyID == new.id && state.nextKeyID == nil
        if !alreadyDone {
            guard state.keyID == old.id else {
                throw IOLogError(
                    .refused,
                    "the keyring is under master key \(state.keyID ?? "-"), not \(old.id) (--master-key-file); "
                        + "pass the key the keyring is under as --master-key-file"
                )
            }
            if state.nextKeyID == nil {
                state = try await keys.beginMasterKeyRotation(from: old.id, to: new.id, nextSealed: try DataKeyring.sealCheck(with: new))
                // Another run may have begun a rotation between the read and this one: only the
                // keyring's own target may be rewrapped to, or keys would end under a key it never names.
                try requireTarget(state)
                try await audit("keys.rotate-master.start", actor: actor, count: try await keys.keyCount(notWrappedBy: new.id), key: "data_keys")
            }
            try requireTarget(state)
        }

        let total = try await keys.keyCount(notWrappedBy: new.id)
        var rewrapped = 0
        var finished = alreadyDone
        for _ in 0..<100 where !finished {
            rewrapped += try await rewrapRemaining(total: total, done: rewrapped, progress: progress)
            if try await keys.finishMasterKeyRotation(to: new.id) {
                try await audit("keys.rotate-master", actor: actor, count: rewrapped, key: "rewrapped")
                finished = true
            } else if let now = try await keys.masterKeyState() {
                // A process still on the old key made a key between the last batch and the finish
                // (rewrap it and try again), unless the target itself is no longer ours.
                try requireTarget(now)
            }
        }
        guard finished else {
            throw IOLogError(.refused, "data keys under the old master key keep appearing; restart every iolog process with the new key")
        }
        if alreadyDone { rewrapped += try await rewrapRemaining(total: total, done: 0, progress: progress) }
        do {
            try await keys.scrubReplacedKeys()
        } catch {
            throw IOLogError(
                .refused,
                "the keyring is now under master key \(new.id), but the old wrappings are not yet scrubbed from its files (\(error)); "
                    + "run the same command again to scrub them"
            )
        }
        return Report(from: old.id, to: new.id, rewrapped: rewrapped, alreadyDone: alreadyDone)
    }

    /// Refuses unless the keyring is moving to (or already under) the new key.
    private func requireTarget(_ state: MasterKeyState) throws {
        guard state.nextKeyID == new.id || (state.nextKeyID == nil && state.keyID == new.id) else {
            throw IOLogError(
                .refused,
                "a rotation to master key \(state.nextKeyID ?? state.keyID ?? "-") is under way; "
                    + "finish it with that key as --new-master-key-file first"
            )
        }
    }

    private func rewrapRemaining(total: Int, done: Int, progress: @Sendable (Int, Int) -> Void) async throws -> Int {
        var rewrapped = 0
        while true {
            let batch = try await keys.keys(notWrappedBy: new.id, limit: batchSize)
            if batch.isEmpty { return rewrapped }
            var wrapped: [[UInt8]] = []
            wrapped.reserveCapacity(batch.count)
            for key in batch {
                guard key.masterKeyID == nil || key.masterKeyID == old.id else {
                    throw IOLogError(
                        .refused,
                        "data key \(key.version) of account \(key.accountID) is wrapped by master key \(key.masterKeyID ?? "-"), "
                            + "neither \(old.id) nor \(new.id)"
                    )
                }
                let plain: SymmetricKey
                do {
                    plain = try DataKeyring.unwrap(key, with: old.key)
                } catch {
                    throw IOLogError.keyUnavailable("data key \(key.version) of account \(key.accountID) does not unwrap with the old master key")
                }
                wrapped.append(try DataKeyring.wrap(plain, accountID: key.accountID, version: key.version, master: new.key))
            }
            rewrapped += try await keys.rewrap(batch, as: wrapped, by: new.id)
            progress(done + rewrapped, max(total, done + rewrapped))
        }
    }

    /// `keys.rotate-master.start` counts the data keys to rewrap; `keys.rotate-master` the ones
    /// the finishing run rewrapped (an interrupted run's share is in neither count).
    private func audit(_ action: String, actor: String, count: Int, key: String) async throws {
        let detail = JSONValue.object(["from": .string(old.id), "to": .string(new.id), key: .integer(Int64(count))])
        try await store.appendAudit(AuditEvent(occurredAt: now, actor: actor, action: action, detail: detail.canonicalText))
    }
}
