import Foundation
import IOLogTestSupport
import Synchronization
import Testing

@testable import IOLogCore

/// Retention (DESIGN §2 rule 5) and deletion requests with crypto-shredding (rule 6, §6).
@Suite("Retention and deletion")
struct ErasureTests {
    static let now = RFC3339.parse("2026-11-22T12:00:00Z")!

    /// A data folder as `serve` would have it open: the store, the keyring, two accounts with
    /// really sealed generations, and alice as the admin of org_a.
    struct World {
        let folder: TemporaryFolder
        let masterKey: MasterKey
        let engine: any StorageEngine
        let store: any LogStore
        let keyring: DataKeyring
        let clock: Clock

        /// Opens `folder` (as it is) with `masterKey`.
        init(folder: TemporaryFolder, masterKey: MasterKey, clock: Clock) async throws {
            self.folder = folder
            self.masterKey = masterKey
            engine = try await folder.dataFolder.openEngine()
            store = engine.store
            keyring = try await engine.keyring(masterKey: masterKey)
            self.clock = clock
        }

        init(clock: Clock = .fixed(ErasureTests.now.date)) async throws {
            try await self.init(folder: try TemporaryFolder(), masterKey: try randomMasterKey(), clock: clock)
            let directory = AccountDirectory(store: store, clock: .fixed(Timestamp(micros: 1).date))
            for account in ["org_a", "org_b"] {
                _ = try await directory.upsertAccount(id: account, kind: .organization, name: nil, actor: "test")
            }
            try await directory.setRole(accountID: "org_a", userID: "alice", role: .admin, actor: "test")
            try await directory.setRole(accountID: "org_a", userID: "bob", role: .member, actor: "test")
        }

        /// Seals and stores a generation with distinct bodies.
        @discardableResult
        /// Seals and stores a generation as ingest does: a row sealed with a key an erasure
        /// destroyed ends the lease on it and is sealed again with the account's new key.
        func add(
            _ id: String,
            account: String = "org_a",
            createdAt: Timestamp = ErasureTests.now,
            user: String? = nil
        ) async throws -> SealedGeneration {
            let first = try await seal(id, account: account, createdAt: createdAt, user: user)
            switch try await store.insertGenerations([first]) {
            case [.stored]:
                return first
            case [.keyDestroyed]:
                BodyEnvelope(keyring: keyring).endLease(accountID: account, sealed: first.promptSealed)
                let second = try await seal(id, account: account, createdAt: createdAt, user: user)
                try await store.insertGeneration(second)
                return second
            default:
                // Not stored: the same insert again reports why, as an error.
                try await store.insertGeneration(first)
                return first
            }
        }

        func seal(_ id: String, account: String = "org_a", createdAt: Timestamp, user: String? = nil) async throws -> SealedGeneration {
            let sealer = try await BodyEnvelope(keyring: keyring).sealer(for: account)
            let body = Array("body of \(id) \(UUID().uuidString)".utf8)
            let generation = SealedGeneration(
                id: id,
                accountID: account,
                createdAt: createdAt,
                storedAt: createdAt,
                userID: user,
                model: "m",
                provider: "p",
                region: "global",
                contentMAC: sealer.contentMAC(body),
                promptSealed: try sealer.seal(body, generationID: id, field: .prompt),
                completionSealed: try sealer.seal(body + [1], generationID: id, field: .completion),
                reasoningSealed: try sealer.seal(body + [2], generationID: id, field: .reasoning)
            )
            return generation
        }

        func deletion() -> (DeletionDesk, DeletionService) {
            (DeletionDesk(store: store, clock: clock), DeletionService(store: store, keys: engine.keys, clock: clock))
        }

        func opens(_ generation: SealedGeneration) async -> Bool {
            let opened = try? await BodyEnvelope(keyring: keyring).open(
                generation.completionSealed,
                accountID: generation.accountID,
                generationID: generation.id,
                field: .completion
            )
            return opened != nil
        }

        func close() async {
            await engine.close()
        }
    }

    static func months(_ months: Int, days: Int, from: Timestamp) -> Timestamp {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let date = calendar.date(byAdding: DateComponents(month: months, day: days), to: from.date)!
        return Timestamp(date)
    }

    @Test("retention shorter than three months is refused, with the reason")
    func retentionMinimum() throws {
        for text in ["2", "0", "-3"] {
            #expect(throws: IOLogError.self) { try RetentionPolicy(parsing: text) }
            do {
                _ = try RetentionPolicy(parsing: text)
            } catch {
                #expect(error.message.contains("three months") || error.message.contains("whole number"))
            }
        }
        #expect(throws: IOLogError.self) { try RetentionPolicy(parsing: "three") }
        #expect(try RetentionPolicy(parsing: "3").months == 3)
        #expect(try RetentionPolicy(parsing: "unlimited").months == nil)
        #expect(RetentionPolicy.default.months == 3)
        #expect(RetentionPolicy.unlimited.cutoff(now: Self.now) == nil)
        // Calendar months in UTC, keeping the time of day.
        #expect(RetentionPolicy.default.cutoff(now: Self.now) == RFC3339.parse("2026-08-22T12:00:00Z"))
        #expect(try RetentionPolicy(parsing: "3").cutoff(now: RFC3339.parse("2026-05-31T08:00:00.25Z")!) == RFC3339.parse("2026-02-28T08:00:00.25Z"))
    }

    @Test("the purge removes 3 months + 1 day, keeps 3 months − 1 day, counts per account, audits once")
    func purgeBoundary() async throws {
        let world = try await World()
        defer { world.folder.remove() }
        let young = try await world.add("young", createdAt: Self.months(-3, days: 1, from: Self.now))
        let old = try await world.add("old", createdAt: Self.months(-3, days: -1, from: Self.now))
        try await world.add("old-b", account: "org_b", createdAt: Self.months(-7, days: 0, from: Self.now))
        for index in 0..<(RetentionPurge.batchSize + 20) {
            try await world.add("bulk-\(index)", account: "org_b", createdAt: Self.months(-4, days: 0, from: Self.now))
        }
        let purge = RetentionPurge(store: world.store, policy: .default, clock: world.clock)
        let dry = try await purge.run(dryRun: true, actor: "test")
        #expect(dry.rows == RetentionPurge.batchSize + 22)
        #expect(dry.accounts == ["org_a": 1, "org_b": RetentionPurge.batchSize + 21])
        #expect(try await world.store.generation(id: old.id) != nil)

        let report = try await purge.run(actor: "test")
        #expect(report.rows == RetentionPurge.batchSize + 22)
        #expect(report.accounts == dry.accounts)
        #expect(try await world.store.generation(id: young.id) != nil)
        #expect(try await world.store.generation(id: old.id) == nil)
        #expect(try await world.store.generation(id: "old-b") == nil)
        // Longer retention keeps more; unlimited keeps everything.
        #expect(try await RetentionPurge(store: world.store, policy: .unlimited, clock: world.clock).run(actor: "test").rows == 0)

        let events = try await TestSQL.rows(world.engine, "SELECT action, detail FROM audit_events WHERE action = 'retention.purge'")
            .map { ($0[0], Optional($0[1])) }
        #expect(events.count == 1)
        #expect(events.first?.1?.contains("\"rows\":\(RetentionPurge.batchSize + 22)") == true)
        await world.close()
    }

    @Test("whole-account erasure: keys destroyed first, every sealed body and wrapped key gone from every file")
    func wholeAccountErasure() async throws {
        let world = try await World()
        defer { world.folder.remove() }
        var erased: [SealedGeneration] = []
        for index in 0..<(DeletionService.batchSize + 30) {
            erased.append(try await world.add("a-\(index)", createdAt: Timestamp(micros: Self.now.micros - Int64(index))))
        }
        let kept = try await world.add("b-1", account: "org_b")
        let wrappedKeys = try await world.keyring.wrappedKeys(for: "org_a")
        #expect(wrappedKeys.count == 1)
        // What must vanish: every sealed body of org_a, and its wrapped key.
        var secrets = wrappedKeys
        for generation in erased { secrets += [generation.promptSealed, generation.completionSealed, generation.reasoningSealed!] }
        let scanner = SecretScanner(secrets)
        // On SQLite every byte the engine keeps is in the data folder, so the files can be searched.
        // On PostgreSQL the server's WAL (and its replicas and base backups) keep what was written
        // until they are recycled: there the guarantee is the destroyed key (checked below for both
        // engines), and VACUUM frees the erased rows' space (docs/OPERATIONS.md).
        let searchesFiles = TestStorage.isSQLite
        // Before the run they are there (the scanner finds them).
        if searchesFiles { #expect(try world.folder.allFiles().contains { scanner.firstHit(in: $0.bytes) != nil }) }

        let (desk, service) = world.deletion()
        await #expect(throws: IOLogError.self) {
            try await desk.request(accountID: "org_a", requestedBy: "bob", ticket: "T-1", scope: .account, filedBy: "test")
        }
        let request = try await desk.request(accountID: "org_a", requestedBy: "alice", ticket: "T-2", scope: .account, filedBy: "cli:support")
        #expect(request.status == .pending)
        let seen = Mutex<[DeletionRequest]>([])
        let receipt = try await service.run(id: request.id, runBy: "cli:support") { progress in seen.withLock { $0.append(progress) } }
        #expect(receipt.status == .completed)
        #expect(receipt.rowsErased == erased.count)
        #expect(receipt.keysDestroyed == 1)
        #expect(receipt.keysDestroyedAt != nil && receipt.keysDestroyedAt! <= receipt.finishedAt!)
        #expect(receipt.runBy == "cli:support")
        // The first progress report comes after the keys are gone and before any row is.
        #expect(seen.withLock { $0.first.map { $0.keysDestroyedAt != nil && $0.rowsErased == 0 } } == true)

        // While everything is still open (as under a running server), and again after closing.
        for phase in ["open", "closed"] {
            if phase == "closed" {
                await world.close()
            }
            let files = searchesFiles ? try world.folder.allFiles() : []
            #expect(files.count >= 2 || !searchesFiles)
            for file in files {
                #expect(scanner.firstHit(in: file.bytes) == nil, "a secret is still in \(file.path) (\(phase))")
            }
        }
        let reopened = try await World.reopen(world)
        #expect(try await reopened.keyring.wrappedKeys(for: "org_a").isEmpty)
        #expect(try await reopened.store.generation(id: erased[0].id) == nil)
        #expect(await reopened.opens(kept))
        // Unreadable even from a copy: the key version is gone, and a fresh key is a new version.
        await #expect(throws: IOLogError.self) { try await reopened.keyring.key(for: "org_a", version: 1) }
        #expect(try await reopened.keyring.currentKey(for: "org_a").version == 2)
        let events = try await reopened.store.auditEvents(accountID: "org_a", actions: nil, before: nil, limit: 10).map(\.event.action)
        #expect(events.prefix(3) == ["deletion.complete", "deletion.run", "deletion.request"])
        // Running it again changes nothing.
        let (_, again) = reopened.deletion()
        #expect(try await again.run(id: request.id, runBy: "x") == receipt)
        await reopened.close()
    }

    @Test("listed generations and 'before' scopes erase only their rows and keep the keys")
    func partialScopes() async throws {
        let world = try await World()
        defer { world.folder.remove() }
        let early = try await world.add("early", createdAt: Timestamp(micros: Self.now.micros - 10_000_000))
        let late = try await world.add("late")
        let listed = try await world.add("listed")
        try await world.add("other-account", account: "org_b")
        let (desk, service) = world.deletion()
        let byIDs = try await desk.request(
            accountID: "org_a",
            requestedBy: "alice",
            ticket: "T-3",
            scope: .generations(["listed", "other-account", "never-existed"]),
            filedBy: "test"
        )
        #expect(try await service.run(id: byIDs.id, runBy: "test").rowsErased == 1)
        #expect(try await world.store.generation(id: listed.id) == nil)
        #expect(try await world.store.generation(id: "other-account") != nil)
        let byTime = try await desk.request(
            accountID: "org_a",
            requestedBy: "alice",
            ticket: "T-4",
            scope: .before(Timestamp(micros: Self.now.micros - 1)),
            filedBy: "test"
        )
        let receipt = try await service.run(id: byTime.id, runBy: "test")
        #expect(receipt.rowsErased == 1)
        #expect(receipt.keysDestroyed == 0)
        #expect(try await world.store.generation(id: early.id) == nil)
        #expect(await world.opens(late))
        #expect(try await world.store.deletionRequests(accountID: "org_a", status: .completed).count == 2)
        await world.close()
    }

    @Test("an end user's erasure removes every generation of theirs in the account only, keeps the keys, refuses their late arrivals")
    func endUserScope() async throws {
        let world = try await World()
        defer { world.folder.remove() }
        try await world.add("u1-a", user: "user_1")
        try await world.add("u1-b", createdAt: Timestamp(micros: Self.now.micros - 10_000_000), user: "user_1")
        let kept = try await world.add("u2", user: "user_2")
        try await world.add("anonymous")
        try await world.add("u1-elsewhere", account: "org_b", user: "user_1")
        let (desk, service) = world.deletion()
        await #expect(throws: IOLogError.self) {
            try await desk.request(accountID: "org_a", requestedBy: "alice", ticket: "T-5", scope: .user("not an id"), filedBy: "test")
        }
        let filed = try await desk.request(accountID: "org_a", requestedBy: "alice", ticket: "T-5", scope: .user("user_1"), filedBy: "test")
        #expect(try await world.store.deletionRequest(id: filed.id)?.scope == .user("user_1"))
        let receipt = try await service.run(id: filed.id, runBy: "test")
        #expect(receipt.status == .completed)
        #expect(receipt.rowsErased == 2)
        #expect(receipt.keysDestroyed == 0)
        #expect(receipt.scope == .user("user_1"))
        for id in ["u1-a", "u1-b"] { #expect(try await world.store.generation(id: id) == nil) }
        for id in ["u2", "anonymous", "u1-elsewhere"] { #expect(try await world.store.generation(id: id) != nil) }
        #expect(await world.opens(kept))
        // A late delivery of the erased user, created before the request, is never stored; one
        // created after it is, and so is any other user's.
        let late = try await world.seal("u1-late", createdAt: Timestamp(micros: Self.now.micros - 1), user: "user_1")
        #expect(try await world.store.insertGenerations([late]) == [.erased])
        let retry = try await world.seal("u1-a", createdAt: Self.now, user: "user_1")
        #expect(try await world.store.insertGenerations([retry]) == [.erased])
        let after = try await world.seal("u1-after", createdAt: Timestamp(micros: Self.now.micros + 1), user: "user_1")
        #expect(try await world.store.insertGenerations([after]) == [.stored])
        let other = try await world.seal("u3-late", createdAt: Timestamp(micros: Self.now.micros - 1), user: "user_3")
        #expect(try await world.store.insertGenerations([other]) == [.stored])
        let elsewhere = try await world.seal("u1-b-late", account: "org_b", createdAt: Timestamp(micros: Self.now.micros - 1), user: "user_1")
        #expect(try await world.store.insertGenerations([elsewhere]) == [.stored])
        let audit = try await world.store.auditEvents(accountID: "org_a", actions: ["deletion.request"], before: nil, limit: 5)
        #expect(audit.first?.event.detail?.contains(#""user_id":"user_1""#) == true)
        await world.close()
    }

    @Test("a generation sealed before its account's keys were destroyed is never committed after")
    func sealedBeforeDestructionIsRefused() async throws {
        let world = try await World()
        defer { world.folder.remove() }
        // Sealed with key 1, as an ingest in flight would be…
        let sealer = try await BodyEnvelope(keyring: world.keyring).sealer(for: "org_a")
        func row(_ id: String, _ sealer: BodyEnvelope.Sealer) throws -> SealedGeneration {
            SealedGeneration(
                id: id,
                accountID: "org_a",
                createdAt: Self.now,
                storedAt: Self.now,
                model: "m",
                provider: "p",
                region: "global",
                contentMAC: sealer.contentMAC([1]),
                promptSealed: try sealer.seal([1], generationID: id, field: .prompt),
                completionSealed: try sealer.seal([2], generationID: id, field: .completion),
                reasoningSealed: nil
            )
        }
        let inFlight = try row("in-flight", sealer)
        // …then an erasure destroys the account's keys before the commit.
        #expect(try await world.engine.keys.destroyKeys(accountID: "org_a", at: Self.now) == 1)
        #expect(try await world.store.insertGenerations([inFlight]) == [.keyDestroyed])
        #expect(try await world.store.generation(id: "in-flight") == nil)
        // The ingest ends its lease on the destroyed key; sealed again with the account's
        // fresh key, it is stored and readable.
        BodyEnvelope(keyring: world.keyring).endLease(accountID: "org_a", sealed: inFlight.promptSealed)
        let fresh = try await BodyEnvelope(keyring: world.keyring).sealer(for: "org_a")
        let resealed = try row("in-flight", fresh)
        #expect(try await world.store.insertGenerations([resealed]) == [.stored])
        #expect(await world.opens(resealed))
        await world.close()
    }
}

extension ErasureTests.World {
    /// Opens the same folder again, as a restarted server would.
    static func reopen(_ world: ErasureTests.World) async throws -> ErasureTests.World {
        try await ErasureTests.World(folder: world.folder, masterKey: world.masterKey, clock: world.clock)
    }
}
