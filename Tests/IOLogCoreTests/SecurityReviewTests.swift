import Foundation
import IOLogTestSupport
import Testing

@testable import IOLogCore

/// Regression tests for the security review's findings that live in the core (issue 10).
@Suite("Security review: core")
struct SecurityReviewTests {
    @Test("every membership, account and user-token change is in the trail of each account it affects")
    func accessChangesAreAudited() async throws {
        let world = try await ErasureTests.World()
        defer { world.folder.remove() }
        let directory = AccountDirectory(store: world.store, clock: world.clock)
        try await directory.setRole(accountID: "org_b", userID: "alice", role: .member, actor: "cli:root")
        try await directory.setRole(accountID: "org_a", userID: "eve", role: .admin, actor: "cli:root")
        // Setting the same role again changes nothing and writes nothing.
        try await directory.setRole(accountID: "org_a", userID: "eve", role: .admin, actor: "cli:root")
        let token = try await TokenService(store: world.store, clock: world.clock).create(kind: .user, userID: "alice", actor: "cli:root")
        try await TokenService(store: world.store, clock: world.clock).revoke(id: token.record.id, actor: "cli:root")
        #expect(try await directory.removeMember(accountID: "org_a", userID: "eve", actor: "platform:pf-1"))
        _ = try await directory.upsertAccount(id: "org_a", kind: .organization, name: "Renamed", actor: "platform:pf-1")
        _ = try await directory.upsertAccount(id: "org_a", kind: .organization, name: "Renamed", actor: "platform:pf-1")

        func trail(_ account: String) async throws -> [AuditEvent] {
            try await world.store.auditEvents(accountID: account, actions: nil, before: nil, limit: 100).map(\.event).reversed()
                .filter { $0.actor != "test" }
        }
        // A token made while its user belonged to no account shows up where the user becomes admin.
        let early = try await TokenService(store: world.store, clock: world.clock).create(kind: .user, userID: "zed", actor: "cli:root")
        try await directory.setRole(accountID: "org_b", userID: "zed", role: .admin, actor: "platform:pf-1")
        let zed = try await trail("org_b").suffix(2)
        #expect(zed.map(\.action) == ["membership.set", "token.access"])
        #expect(zed.last?.target == early.record.id)

        let a = try await trail("org_a")
        #expect(a.map(\.action) == ["membership.set", "token.create", "token.revoke", "membership.remove", "account.upsert"])
        #expect(a[0].target == "eve" && a[0].detail == #"{"role":"admin"}"# && a[0].actor == "cli:root")
        #expect(a[1].target == token.record.id && a[1].detail?.contains(#""user_id":"alice""#) == true)
        // alice is also a member of org_b: the token can read nothing there, but its admins see it.
        let b = try await trail("org_b")
        #expect(b.map(\.action) == ["membership.set", "token.create", "token.revoke", "membership.set", "token.access"])
        #expect(try await world.store.tokens().first { $0.id == token.record.id }?.createdBy == "cli:root")
        await world.close()
    }

    @Test("a whole-account erasure is a time boundary: a late arrival created before it is refused inside the insert")
    func erasureBoundary() async throws {
        let world = try await ErasureTests.World()
        defer { world.folder.remove() }
        try await world.add("gen-1", createdAt: Timestamp(micros: ErasureTests.now.micros - 60_000_000))
        let (desk, service) = world.deletion()
        let request = try await desk.request(accountID: "org_a", requestedBy: "alice", ticket: "T-1", scope: .account, filedBy: "cli:test")
        _ = try await service.run(id: request.id, runBy: "cli:test")
        #expect(try await world.store.account(id: "org_a")?.erasedBefore == Timestamp(micros: request.createdAt.micros + 1))
        // Sealed under the fresh key, as a generation in flight during the run would be.
        await #expect(throws: IOLogError.self) { try await world.add("gen-late", createdAt: request.createdAt) }
        #expect(try await world.store.generation(id: "gen-late") == nil)
        try await world.add("gen-new", createdAt: Timestamp(micros: request.createdAt.micros + 1))
        #expect(try await world.store.generation(id: "gen-new") != nil)
        // The policy says why, before anything is sealed.
        let account = try #require(try await world.store.account(id: "org_a"))
        var opted = account
        opted.ioLogging = IOLoggingSetting(enabled: true, enabledAt: Timestamp(micros: 0))
        #expect(IngestPolicy().skipReason(region: "global", createdAt: request.createdAt, account: opted) == .beforeOptIn)
        // A `--before T` run moves the boundary to T, but never past the request.
        #expect(DeletionScope.before(Timestamp(micros: 5)).erasedBefore(requestedAt: request.createdAt) == Timestamp(micros: 5))
        let future = Timestamp(micros: request.createdAt.micros + 86_400_000_000)
        #expect(DeletionScope.before(future).erasedBefore(requestedAt: request.createdAt) == Timestamp(micros: request.createdAt.micros + 1))
        #expect(DeletionScope.generations(["x"]).erasedBefore(requestedAt: request.createdAt) == nil)
        await world.close()
    }

    @Test("an erasure of listed generations remembers the ids: a gateway retry of one is never stored again")
    func erasedIDsStayErased() async throws {
        let world = try await ErasureTests.World()
        defer { world.folder.remove() }
        try await world.add("gen-keep")
        try await world.add("gen-gone")
        let (desk, service) = world.deletion()
        let request = try await desk.request(
            accountID: "org_a",
            requestedBy: "alice",
            ticket: "T-2",
            scope: .generations(["gen-gone"]),
            filedBy: "cli:test"
        )
        #expect(try await service.run(id: request.id, runBy: "cli:test").rowsErased == 1)
        await #expect(throws: IOLogError.self) { try await world.add("gen-gone") }
        #expect(try await world.store.generation(id: "gen-gone") == nil)
        #expect(try await world.store.generation(id: "gen-keep") != nil)
        // The remembered id is org_a's: it does not stop another account's generation.
        try await world.add("gen-gone", account: "org_b")
        await world.close()
    }

    @Test("AES-GCM refuses an input larger than OpenSSL's int lengths instead of trapping")
    func hugeInputIsRefused() throws {
        #expect(throws: CryptoError.inputTooLarge) { try AESGCM.checkLength(Int(Int32.max) + 1) }
        try AESGCM.checkLength(Int(Int32.max))
    }

    @Test("a one-off purge uses the retention serve recorded and refuses a shorter one")
    func retentionComesFromTheDatabase() async throws {
        let twelve = try RetentionPolicy(parsing: "12")
        let three = try RetentionPolicy(parsing: "3")
        #expect(try RetentionPolicy.forPurge(requested: nil, recorded: twelve) == twelve)
        #expect(try RetentionPolicy.forPurge(requested: nil, recorded: nil) == .default)
        #expect(try RetentionPolicy.forPurge(requested: .unlimited, recorded: twelve) == .unlimited)
        #expect(throws: IOLogError.self) { try RetentionPolicy.forPurge(requested: three, recorded: twelve) }
        #expect(throws: IOLogError.self) { try RetentionPolicy.forPurge(requested: twelve, recorded: .unlimited) }

        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let storeEngine = try await folder.dataFolder.openEngine()
        let store = storeEngine.store
        #expect(try await store.retentionPolicy() == nil)
        let audit = AuditEvent(occurredAt: Timestamp(micros: 1), actor: "serve", action: "retention.set")
        try await store.setRetentionPolicy(.unlimited, at: Timestamp(micros: 1), audit: audit)
        try await store.setRetentionPolicy(.unlimited, at: Timestamp(micros: 2), audit: audit)
        #expect(try await store.retentionPolicy() == .unlimited)
        try await store.setRetentionPolicy(twelve, at: Timestamp(micros: 3), audit: audit)
        #expect(try await store.retentionPolicy() == twelve)
        guard case .intact(let rows, _) = try await store.verifyAuditChain() else {
            Issue.record("chain broken")
            return
        }
        #expect(rows == 2)
        await storeEngine.close()
    }

    @Test("refusals of one caller on one account are coalesced, the end of a burst is kept, memory stays bounded")
    func denialsAreCoalesced() {
        let log = DenialLog()
        let start = Timestamp(micros: 1_000_000_000)
        func admit(_ actor: String, _ at: Timestamp, route: String = "GET /r") -> Int? {
            log.admit(accountID: "a", actor: actor, route: route, generationID: nil, at: at)
        }
        #expect(admit("x", start) == 0)
        for tenth in 1...299 {
            #expect(admit("x", Timestamp(micros: start.micros + Int64(tenth) * 100_000), route: "GET /last") == nil)
        }
        #expect(admit("y", start) == 0)
        // The burst ended: the minute's count is there to write without another refusal.
        #expect(log.pending(at: Timestamp(micros: start.micros + 30_000_000), all: false).isEmpty)
        let due = log.pending(at: Timestamp(micros: start.micros + DenialLog.window), all: false)
        #expect(due == [DenialLog.Summary(accountID: "a", actor: "x", route: "GET /last", generationID: nil, count: 299)])
        #expect(log.pending(at: Timestamp(micros: start.micros + DenialLog.window), all: true).isEmpty)
        #expect(admit("y", Timestamp(micros: start.micros + 1)) == nil)
        #expect(log.pending(at: start, all: true).map(\.count) == [1])
        for index in 0..<(DenialLog.capacity + 10) {
            _ = admit("probe-\(index)", start)
        }
        #expect(admit("new", start) == 0)
    }

    @Test("an existing data folder or database file open to others is tightened before use")
    func permissionsAreTightened() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        chmod(folder.path, 0o755)
        // The data folder's own files: SQLite's, whichever engine the run is for.
        let storeEngine = try SQLiteEngine(folder: folder.dataFolder)
        try await storeEngine.migrate()
        await storeEngine.close()
        chmod(folder.dataFolder.logDatabasePath, 0o644)
        let againEngine = try SQLiteEngine(folder: folder.dataFolder)
        await againEngine.close()
        func mode(_ path: String) throws -> Int {
            (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
        }
        #expect(try mode(folder.path) == 0o700)
        #expect(try mode(folder.dataFolder.logDatabasePath) == 0o600)
        #expect(try mode(folder.dataFolder.keyringPath) == 0o600)
    }
}
