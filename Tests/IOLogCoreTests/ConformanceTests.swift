import Foundation
import IOLogTestSupport
import Synchronization
import Testing

@testable import IOLogCore

/// The invariants every storage engine must keep (`LogStore`, `KeyStore`), checked through the
/// protocols only, so the same suite runs against each engine: `scripts/test` runs it on
/// SQLite and again on PostgreSQL (`TestStorage`). Two engine instances on the same storage
/// stand for two processes (or two replicas).
@Suite("Storage engine conformance")
struct ConformanceTests {
    static let now = RFC3339.parse("2026-11-22T12:00:00Z")!

    /// Two engines on one storage, an account with a live data key, and a way to seal rows.
    struct Pair {
        let folder: TemporaryFolder
        let first: any StorageEngine
        let second: any StorageEngine
        let keyring: DataKeyring

        init() async throws {
            folder = try TemporaryFolder()
            first = try await folder.dataFolder.openEngine()
            second = try await folder.dataFolder.openEngine()
            keyring = try await first.keyring(masterKey: try randomMasterKey())
            let directory = AccountDirectory(store: first.store, clock: .fixed(Timestamp(micros: 1).date))
            for account in ["org_a", "org_b"] {
                _ = try await directory.upsertAccount(id: account, kind: .organization, name: nil, actor: "test")
            }
        }

        func row(
            _ id: String,
            account: String = "org_a",
            createdAt: Timestamp = ConformanceTests.now,
            body: String = "body"
        ) async throws
            -> SealedGeneration
        {
            let sealer = try await BodyEnvelope(keyring: keyring).sealer(for: account)
            return SealedGeneration(
                id: id,
                accountID: account,
                createdAt: createdAt,
                storedAt: createdAt,
                model: "m",
                provider: "p",
                region: "global",
                contentMAC: sealer.contentMAC(Array(body.utf8)),
                promptSealed: try sealer.seal(Array(body.utf8), generationID: id, field: .prompt),
                completionSealed: try sealer.seal(Array(body.utf8), generationID: id, field: .completion)
            )
        }

        func close() async {
            await first.close()
            await second.close()
            folder.remove()
        }
    }

    @Test("concurrent audit appends from two processes form one unbroken chain")
    func concurrentAuditAppends() async throws {
        let pair = try await Pair()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                let store = worker % 2 == 0 ? pair.first.store : pair.second.store
                group.addTask {
                    for index in 0..<25 {
                        try await store.appendAudit(
                            AuditEvent(occurredAt: Self.now, actor: "test", action: "test.append", accountID: "org_a", target: "\(worker)-\(index)")
                        )
                    }
                }
            }
            try await group.waitForAll()
        }
        let verification = try await pair.first.store.verifyAuditChain()
        guard case .intact(let rows, _) = verification else {
            Issue.record("the chain forked: \(verification)")
            return await pair.close()
        }
        #expect(rows >= 200)
        let appended = try await pair.second.store.auditEvents(accountID: "org_a", actions: ["test.append"], before: nil, limit: 1000)
        #expect(appended.count == 200)
        #expect(Set(appended.map(\.sequence)).count == 200)
        await pair.close()
    }

    @Test("an insert racing a key destruction never leaves a row behind the erasure", arguments: 0..<12)
    func insertRacingKeyDestruction(round: Int) async throws {
        let pair = try await Pair()
        let rows = try await (0..<20).asyncMap { try await pair.row("race-\(round)-\($0)") }
        // One process inserts while another destroys the keys and then erases the account's rows,
        // as `iolog deletion run` does; whatever the interleaving, nothing may remain.
        async let inserted = pair.first.store.insertGenerations(rows)
        async let erased: Void = {
            if round % 2 == 0 { try await Task.sleep(for: .microseconds(200 * round)) }
            _ = try await pair.second.keys.destroyKeys(accountID: "org_a", at: Self.now)
            let request = DeletionRequest(
                id: "del-race-\(round)",
                accountID: "org_a",
                requestedBy: "alice",
                filedBy: "test",
                ticket: "T",
                scope: .account,
                status: .pending,
                createdAt: Self.now
            )
            try await pair.second.store.insertDeletionRequest(
                request,
                audit: AuditEvent(occurredAt: Self.now, actor: "test", action: "deletion.request", accountID: "org_a", target: request.id)
            )
            while try await pair.second.store.eraseBatch(request: request, limit: 1000) > 0 {}
        }()
        let outcomes = try await inserted
        try await erased
        #expect(outcomes.allSatisfy { $0 == .stored || $0 == .keyDestroyed })
        for row in rows {
            #expect(try await pair.first.store.generation(id: row.id) == nil, "\(row.id) survived the erasure")
        }
        await pair.close()
    }

    @Test("a retry in another month is recognised by id: never stored twice")
    func retryInAnotherMonth() async throws {
        let pair = try await Pair()
        let original = try await pair.row("gen-retry")
        var retry = original
        retry.createdAt = Timestamp(micros: original.createdAt.micros - 40 * 86_400_000_000)
        #expect(try await pair.first.store.insertGenerations([original]) == [.stored])
        let again = try await pair.second.store.insertGenerations([retry])
        #expect(again == [.duplicate])
        let other = try await pair.row("gen-retry", account: "org_b", createdAt: retry.createdAt)
        #expect(try await pair.second.store.insertGenerations([other]) == [.conflict])
        #expect(try await pair.first.store.generation(id: "gen-retry")?.createdAt == original.createdAt)
        let listed = try await pair.first.store.generationSummaries(accountID: "org_a", filter: GenerationFilter(), after: nil, limit: 10)
        #expect(listed.map(\.id) == ["gen-retry"])
        await pair.close()
    }

    @Test("the same new id from two processes at once: one stored, the other a duplicate")
    func sameIDFromTwoProcesses() async throws {
        let pair = try await Pair()
        for index in 0..<20 {
            let row = try await pair.row("gen-twice-\(index)")
            async let a = pair.first.store.insertGenerations([row])
            async let b = pair.second.store.insertGenerations([row])
            let outcomes = try await [a, b].flatMap { $0 }
            #expect(outcomes.sorted { "\($0)" < "\($1)" } == [.duplicate, .stored])
        }
        await pair.close()
    }

    @Test("the erasure boundary and listed ids set by one process hold inside the other's insert")
    func erasureBoundaryAcrossProcesses() async throws {
        let pair = try await Pair()
        let request = DeletionRequest(
            id: "del-ids",
            accountID: "org_a",
            requestedBy: "alice",
            filedBy: "test",
            ticket: "T",
            scope: .generations(["gen-listed"]),
            status: .pending,
            createdAt: Self.now
        )
        let audit = AuditEvent(occurredAt: Self.now, actor: "test", action: "deletion.run", accountID: "org_a", target: request.id)
        try await pair.first.store.insertDeletionRequest(request, audit: audit)
        _ = try await pair.first.store.startDeletion(
            id: request.id,
            runBy: "test",
            at: Self.now,
            erasedBefore: Timestamp(micros: 1_000),
            audit: audit
        )
        let listed = try await pair.row("gen-listed")
        let early = try await pair.row("gen-early", createdAt: Timestamp(micros: 999))
        let fine = try await pair.row("gen-fine")
        #expect(try await pair.second.store.insertGenerations([listed, early, fine]) == [.erased, .erased, .stored])
        await pair.close()
    }

    @Test("a token, account or setting changed through one process is seen by the other at once")
    func changesAreSharedAtOnce() async throws {
        let pair = try await Pair()
        let tokens = TokenService(store: pair.first.store)
        let issued = try await tokens.create(kind: .gateway, actor: "test")
        #expect(try await TokenService(store: pair.second.store).authenticate(issued.token) == .gateway(tokenID: issued.record.id))
        try await tokens.revoke(id: issued.record.id, actor: "test")
        #expect(try await TokenService(store: pair.second.store).authenticate(issued.token) == nil)
        _ = try await pair.first.store.setIOLogging(accountID: "org_b", enabled: true, at: Self.now, audit: nil)
        #expect(try await pair.second.store.account(id: "org_b")?.ioLogging.enabled == true)
        await pair.close()
    }

    @Test("retention purges across months and forgets the ids; one process claims the periodic purge")
    func retentionAcrossMonths() async throws {
        let pair = try await Pair()
        let month: Int64 = 31 * 86_400_000_000
        var rows: [SealedGeneration] = []
        for index in 0..<6 {
            rows.append(try await pair.row("gen-old-\(index)", createdAt: Timestamp(micros: Self.now.micros - Int64(6 - index) * month)))
        }
        #expect(try await pair.first.store.insertGenerations(rows) == Array(repeating: .stored, count: 6))
        let cutoff = Timestamp(micros: Self.now.micros - 3 * month)
        #expect(try await pair.first.store.purgeableCounts(before: cutoff) == ["org_a": 3])
        var removed = 0
        while true {
            let batch = try await pair.second.store.purgeBatch(before: cutoff, limit: 2)
            if batch.isEmpty { break }
            removed += batch.values.reduce(0, +)
        }
        #expect(removed == 3)
        for (index, row) in rows.enumerated() {
            #expect((try await pair.first.store.generation(id: row.id) != nil) == (index >= 3), "\(row.id)")
        }
        // A purged id is forgotten, as on every engine: a late retry is judged afresh.
        #expect(try await pair.first.store.insertGenerations([rows[0]]) == [.stored])
        #expect(try await pair.first.store.claimMaintenance("retention"))
        #expect(try await pair.first.store.claimMaintenance("retention"))
        if TestStorage.isPostgres {
            #expect(try await pair.second.store.claimMaintenance("retention") == false)
        }
        await pair.close()
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var values: [T] = []
        for element in self { values.append(try await transform(element)) }
        return values
    }
}
