import Foundation
import IOLogTestSupport
import Synchronization
import Testing

@testable import IOLogCore

/// Master-key rotation and data-key rollover (DESIGN §5), on every engine.
@Suite("Key rotation and rollover")
struct KeyRotationTests {
    /// An engine with keys for `accounts`, each with one sealed body, all under `old`.
    struct World {
        let folder: TemporaryFolder
        let engine: any StorageEngine
        let old: MasterKey
        let new: MasterKey
        var sealed: [String: [UInt8]] = [:]

        init(accounts: [String] = ["org_a", "org_b", "org_c"]) async throws {
            folder = try TemporaryFolder()
            engine = try await folder.dataFolder.openEngine()
            old = MasterKey(try SymmetricKey.random())
            new = MasterKey(try SymmetricKey.random())
            let keyring = try await DataKeyring.open(keys: engine.keys, masterKey: old)
            for account in accounts {
                let sealer = try await BodyEnvelope(keyring: keyring).sealer(for: account)
                sealed[account] = try sealer.seal(Array("body of \(account)".utf8), generationID: "g-\(account)", field: .prompt)
            }
        }

        func rotation(batchSize: Int = 500) -> MasterKeyRotation {
            MasterKeyRotation(keys: engine.keys, store: engine.store, old: old, new: new, batchSize: batchSize)
        }

        /// Whether every sealed body opens through a keyring holding `master` (and `previous`).
        func opensAll(with master: MasterKey, previous: MasterKey? = nil) async -> Bool {
            let keyring = DataKeyring(keys: engine.keys, masterKey: master, previousMasterKey: previous)
            for (account, body) in sealed {
                let opened = try? await BodyEnvelope(keyring: keyring).open(body, accountID: account, generationID: "g-\(account)", field: .prompt)
                guard opened == Array("body of \(account)".utf8) else { return false }
            }
            return true
        }

        func close() async {
            await engine.close()
            folder.remove()
        }
    }

    @Test func masterKeyIDIsDerivedFromTheKeyAndRevealsNothing() throws {
        let key = try SymmetricKey.random()
        let id = MasterKey(key).id
        #expect(id.count == 16 && id.allSatisfy(\.isHexDigit))
        #expect(MasterKey(key).id == id)
        #expect(MasterKey(try SymmetricKey.random()).id != id)
        let hex = key.withUnsafeBytes { $0.map { String(format: "%02x", $0) }.joined() }
        #expect(!hex.contains(id))
    }

    @Test("rotation round trip: everything opens under the new key, nothing under the old one, audited")
    func roundTrip() async throws {
        var world = try await World()
        defer { Task { [world] in await world.close() } }
        let report = try await world.rotation().run(actor: "cli:test")
        #expect(report == .init(from: world.old.id, to: world.new.id, rewrapped: 3, alreadyDone: false))
        #expect(try await world.engine.keys.keyCount(notWrappedBy: world.new.id) == 0)
        #expect(try await world.engine.keys.masterKeyState()?.keyID == world.new.id)
        #expect(await world.opensAll(with: world.new))
        // The old key alone: refused at start, and it unwraps no data key.
        await #expect(throws: IOLogError.self) { _ = try await DataKeyring.open(keys: world.engine.keys, masterKey: world.old) }
        #expect(await !world.opensAll(with: world.old))
        // New data written after the rotation opens too, and its key is wrapped by the new key.
        let keyring = try await DataKeyring.open(keys: world.engine.keys, masterKey: world.new)
        let sealer = try await BodyEnvelope(keyring: keyring).sealer(for: "org_new")
        world.sealed["org_new"] = try sealer.seal(Array("body of org_new".utf8), generationID: "g-org_new", field: .prompt)
        #expect(try await world.engine.keys.newestKey(accountID: "org_new")?.masterKeyID == world.new.id)
        #expect(await world.opensAll(with: world.new))
        // Run again: nothing to do. The trail names both key ids, never a key.
        #expect(try await world.rotation().run(actor: "cli:test").alreadyDone)
        let rotations = try await TestSQL.rows(
            world.engine,
            "SELECT action, actor, detail FROM audit_events WHERE action LIKE 'keys.rotate-master%' ORDER BY seq"
        )
        #expect(rotations.map { $0[0] } == ["keys.rotate-master.start", "keys.rotate-master"])
        #expect(rotations.allSatisfy { $0[1] == "cli:test" && $0[2].contains(world.new.id) && $0[2].contains(world.old.id) })
    }

    @Test("a wrong or repeated key is a clear error naming key ids")
    func keyIDMismatch() async throws {
        let world = try await World()
        defer { Task { await world.close() } }
        let stranger = MasterKey(try SymmetricKey.random())
        let wrong = MasterKeyRotation(keys: world.engine.keys, store: world.engine.store, old: stranger, new: world.new)
        let error = await #expect(throws: IOLogError.self) { try await wrong.run(actor: "cli:test") }
        #expect(error?.message.contains("does not match the keyring") == true)
        #expect(error?.message.contains(world.old.id) == true)
        #expect(error?.message.contains(stranger.id) == true)
        let same = MasterKeyRotation(keys: world.engine.keys, store: world.engine.store, old: world.old, new: world.old)
        let sameError = await #expect(throws: IOLogError.self) { try await same.run(actor: "cli:test") }
        #expect(sameError?.message.contains("same key") == true)
        // A second rotation to another key while the first is unfinished is refused.
        _ = try await world.engine.keys.beginMasterKeyRotation(
            from: world.old.id,
            to: world.new.id,
            nextSealed: try DataKeyring.sealCheck(with: world.new)
        )
        let other = MasterKeyRotation(keys: world.engine.keys, store: world.engine.store, old: world.old, new: stranger)
        let otherError = await #expect(throws: IOLogError.self) { try await other.run(actor: "cli:test") }
        #expect(otherError?.message.contains("a rotation to master key \(world.new.id) is under way") == true)
        // Nothing was rewrapped to the refused key.
        #expect(try await world.engine.keys.keyCount(notWrappedBy: world.old.id) == 0)
    }

    @Test("a keyring that was never used is not set up by a rotation: it is refused")
    func unusedKeyringIsRefused() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let engine = try await folder.dataFolder.openEngine()
        defer { Task { await engine.close() } }
        let rotation = MasterKeyRotation(
            keys: engine.keys,
            store: engine.store,
            old: MasterKey(try SymmetricKey.random()),
            new: MasterKey(try SymmetricKey.random())
        )
        let error = await #expect(throws: IOLogError.self) { try await rotation.run(actor: "cli:test") }
        #expect(error?.message.contains("never been used") == true)
        #expect(try await engine.keys.masterKeyState() == nil)
    }

    @Test("a key whose seals were never counted (from before counting) is replaced at its first use")
    func uncountedKeyIsReplaced() async throws {
        let world = try await World()
        defer { Task { await world.close() } }
        // What the migration sets on keys that existed before it.
        try await TestSQL.rows(world.engine, "UPDATE data_keys SET seals = 4294967296")
        let keyring = try await DataKeyring.open(keys: world.engine.keys, masterKey: world.old)
        #expect(try await keyring.currentKey(for: "org_a").version == 2)
        #expect(await world.opensAll(with: world.old))
    }

    @Test("during a rollout a process with both keys reads everything; one with the old key alone is told why it cannot")
    func rollout() async throws {
        var world = try await World()
        defer { Task { [world] in await world.close() } }
        // An interrupted rotation: begun, one key rewrapped.
        _ = try await world.engine.keys.beginMasterKeyRotation(
            from: world.old.id,
            to: world.new.id,
            nextSealed: try DataKeyring.sealCheck(with: world.new)
        )
        let first = try #require(try await world.engine.keys.keys(notWrappedBy: world.new.id, limit: 1).first)
        let plain = try DataKeyring.unwrap(first, with: world.old.key)
        let rewrapped = try DataKeyring.wrap(plain, accountID: first.accountID, version: first.version, master: world.new.key)
        #expect(try await world.engine.keys.rewrap([first], as: [rewrapped], by: world.new.id) == 1)

        // serve --master-key-file NEW --previous-master-key-file OLD
        let both = try await DataKeyring.open(keys: world.engine.keys, masterKey: world.new, previousMasterKey: world.old)
        #expect(await world.opensAll(with: world.new, previous: world.old))
        // New keys are wrapped by the rotation's target.
        let sealer = try await BodyEnvelope(keyring: both).sealer(for: "org_rollout")
        world.sealed["org_rollout"] = try sealer.seal(Array("body of org_rollout".utf8), generationID: "g-org_rollout", field: .prompt)
        #expect(try await world.engine.keys.newestKey(accountID: "org_rollout")?.masterKeyID == world.new.id)

        // A process that still has only the old key: verifies (the keyring is still under it),
        // but cannot read a rewrapped key nor make a new one, and says so.
        let oldOnly = try await DataKeyring.open(keys: world.engine.keys, masterKey: world.old)
        let readError = await #expect(throws: IOLogError.self) { _ = try await oldOnly.key(for: first.accountID, version: first.version) }
        #expect(readError?.message.contains("wrapped by master key \(world.new.id), which this process does not hold") == true)
        let makeError = await #expect(throws: IOLogError.self) { _ = try await oldOnly.currentKey(for: "org_late") }
        #expect(makeError?.message.contains("must be wrapped by master key \(world.new.id)") == true)

        // The rotation resumes and finishes; then the new key alone opens everything.
        let report = try await world.rotation().run(actor: "cli:test")
        #expect(report.rewrapped == 2 && !report.alreadyDone)
        #expect(await world.opensAll(with: world.new))
        #expect(await !world.opensAll(with: world.old))
    }

    @Test("a keyring written before key ids learns the id from the first process holding its key")
    func legacyKeyringAdoptsTheID() async throws {
        let world = try await World()
        defer { Task { await world.close() } }
        try await TestSQL.rows(world.engine, "UPDATE data_keys SET master_key_id = NULL")
        try await TestSQL.rows(world.engine, "UPDATE master_key_check SET key_id = NULL")
        await #expect(throws: IOLogError.self) { _ = try await DataKeyring.open(keys: world.engine.keys, masterKey: world.new) }
        _ = try await DataKeyring.open(keys: world.engine.keys, masterKey: world.old)
        #expect(try await world.engine.keys.masterKeyState()?.keyID == world.old.id)
        #expect(try await world.engine.keys.keyCount(notWrappedBy: world.old.id) == 0)
        #expect(try await world.rotation().run(actor: "cli:test").rewrapped == 3)
    }

    @Test("an account's key is replaced after N seals, counted in the keyring across restarts, and after its age")
    func rollover() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let engine = try await folder.dataFolder.openEngine()
        defer { Task { await engine.close() } }
        let master = MasterKey(try SymmetricKey.random())
        let now = Mutex<Int64>(Timestamp(micros: 1_800_000_000_000_000).micros)
        let clock = Clock { now.withLock { Timestamp(micros: $0).date } }
        let policy = KeyRolloverPolicy(maximumSeals: 10, maximumAgeMicros: 86_400_000_000)
        func keyring() -> DataKeyring { DataKeyring(keys: engine.keys, masterKey: master, rollover: policy, clock: clock) }

        let first = keyring()
        var versions: [UInt32] = []
        for _ in 0..<6 { versions.append(try await first.sealingKey(for: "org_a", seals: 2).version) }
        #expect(versions == [1, 1, 1, 1, 1, 2])
        #expect(try await engine.keys.newestKey(accountID: "org_a")?.seals == 2)

        // A restart (a new keyring, as a new process) goes on counting where the keyring says.
        let restarted = keyring()
        versions = []
        for _ in 0..<5 { versions.append(try await restarted.sealingKey(for: "org_a", seals: 2).version) }
        #expect(versions == [2, 2, 2, 2, 3])
        // Two processes share one count: together they never pass it.
        let other = keyring()
        versions = []
        for index in 0..<8 {
            versions.append(try await (index.isMultiple(of: 2) ? restarted : other).sealingKey(for: "org_a", seals: 2).version)
        }
        #expect(versions == [3, 3, 3, 3, 4, 4, 4, 4])

        // Age: a day later the key seals nothing more.
        now.withLock { $0 += 86_400_000_001 }
        #expect(try await restarted.sealingKey(for: "org_a", seals: 2).version == 5)
        // A batch reads the key once; a rollover in its middle gives the rest the new key.
        #expect(try await restarted.sealingKeys(for: "org_b", seals: [2, 2, 2, 2, 2, 2, 3]).map(\.version) == [1, 1, 1, 1, 1, 2, 2])
        // Older keys stay for reading.
        for version in 1...4 { _ = try await restarted.key(for: "org_a", version: UInt32(version)) }
        #expect(try await engine.keys.keyCount(accountID: "org_a") == 5)
    }
}

@Suite("Key rollover and ingest")
struct RolloverIngestTests {
    @Test("a gateway retry that spans a key rollover is a duplicate, not a conflict; other content under the id still is")
    func retryAcrossRollover() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let engine = try await folder.dataFolder.openEngine()
        defer { Task { await engine.close() } }
        let clock = Clock.fixed(Date(timeIntervalSince1970: 1_790_000_000))
        _ = try await AccountDirectory(store: engine.store, clock: clock).upsertAccount(id: "org_a", kind: .organization, name: nil, actor: "test")
        _ = try await engine.store.setIOLogging(accountID: "org_a", enabled: true, at: Timestamp(micros: 0), audit: nil)
        // Three seals per key: every generation (two bodies) gets a key of its own.
        let keyring = DataKeyring(
            keys: engine.keys,
            masterKey: MasterKey(try SymmetricKey.random()),
            rollover: KeyRolloverPolicy(maximumSeals: 3, maximumAgeMicros: 86_400_000_000),
            clock: clock
        )
        try await keyring.verifyMasterKey()
        let ingest = IngestService(
            store: engine.store,
            envelope: BodyEnvelope(keyring: keyring),
            writer: GenerationWriter(store: engine.store),
            policy: IngestPolicy(extraSkippedRegions: []),
            clock: clock
        )
        func item(_ id: String, _ prompt: String) throws -> JSONValue {
            try JSONParser.parse(
                Array(
                    """
                    {"id":"\(id)","account_id":"org_a","created_at":"2026-09-21T10:00:00Z","model":"m","provider":"p",
                     "prompt":[{"role":"user","content":"\(prompt)"}],"completion":{"role":"assistant","content":"a"}}
                    """.utf8
                ),
                limits: .request
            )
        }
        #expect(try await ingest.ingest([try item("gen-1", "hello")]) == [.stored(id: "gen-1")])
        #expect(try await ingest.ingest([try item("gen-1", "hello")]) == [.duplicate(id: "gen-1")])
        #expect(try await ingest.ingest([try item("gen-1", "other")]) == [.conflict(id: "gen-1")])
        #expect(try await engine.keys.newestKey(accountID: "org_a")?.version == 3)
        let stored = try #require(try await engine.store.generation(id: "gen-1"))
        #expect(BodyEnvelope.keyVersion(of: stored.promptSealed) == 1)
    }
}

@Suite("Secrets in what iolog prints")
struct PrintedSecretsTests {
    @Test("a database URL is printed without its password, in the user part or as a parameter")
    func databaseURLIsRedacted() {
        let cases = [
            "postgres://iolog:s3cret@db:5432/iolog": "postgres://iolog:***@db:5432/iolog",
            "postgres://iolog@db/iolog?sslmode=require&password=s3cret": "postgres://iolog@db/iolog?sslmode=require&password=***",
            "postgresql://u:p%40ss@h/d?PASSWORD=x&application_name=iolog": "postgresql://u:***@h/d?password=***&application_name=iolog",
            "postgres://iolog@db/iolog": "postgres://iolog@db/iolog",
        ]
        for (url, shown) in cases {
            #expect(StorageLocation.redacted(url) == shown)
            #expect(!StorageLocation.postgres(url: url, connections: 1).description.contains("s3cret"))
        }
    }
}
