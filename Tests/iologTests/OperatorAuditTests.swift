import ArgumentParser
import Foundation
import IOLogCore
import IOLogTestSupport
import Testing

@testable import iolog

/// What support staff do on the server is visible to the account's admins (issue 10).
@Suite("Operator actions are audited")
struct OperatorAuditTests {
    @Test("members, accounts and tokens changed with the CLI are in the affected account's trail, credited to the real user")
    func cliChangesAreInTheTrail() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let data = ["--data-dir", scratch.dataDir]
        try await runInProcess(["accounts", "upsert", "demo-org", "--kind", "organization"] + data)
        try await runInProcess(["members", "set", "demo-org", "eve", "--role", "admin"] + data)
        try await runInProcess(["tokens", "create", "--user", "eve"] + data)
        try await runInProcess(["members", "remove", "demo-org", "eve"] + data)

        let storeEngine = try await DataFolder(path: scratch.dataDir).openEngine()

        let store = storeEngine.store
        let trail = try await store.auditEvents(accountID: "demo-org", actions: nil, before: nil, limit: 20).reversed().map(\.event)
        #expect(trail.map(\.action) == ["account.upsert", "membership.set", "token.create", "membership.remove"])
        let actor = CLIActor.current(environment: ProcessInfo.processInfo.environment, loginUID: CLIActor.loginUID())
        #expect(trail.allSatisfy { $0.actor == actor })
        #expect(try await store.tokens().first?.createdBy == actor)
        await storeEngine.close()
    }

    @Test("the CLI actor is the real user id's name; $USER cannot change it; the login uid names the person")
    func actorIsNotSpoofable() throws {
        let real = try #require(getpwuid(getuid())?.pointee.pw_name.map { String(cString: $0) })
        let plain = CLIActor.current(environment: ["USER": "mallory", "LOGNAME": "mallory"], loginUID: nil)
        #expect(plain == "cli:\(real)")
        #expect(CLIActor.current(environment: ["USER": "mallory"], loginUID: getuid()) == "cli:\(real)")
        // A login uid different from the process's: the person who logged in, by the kernel's word.
        #expect(CLIActor.current(environment: ["SUDO_USER": "mallory"], loginUID: 65534).hasPrefix("cli:\(real) (login "))
        // Without one, SUDO_USER is only a marked claim, and never a malformed one.
        #expect(CLIActor.current(environment: ["SUDO_USER": "alice"], loginUID: nil) == "cli:\(real) (SUDO_USER alice, unverified)")
        #expect(CLIActor.current(environment: ["SUDO_USER": "a\nb"], loginUID: nil) == plain)
        #expect(CLIActor.loginUID(path: "/nonexistent") == nil)
    }

    @Test("`retention run` purges with the retention serve recorded and refuses a shorter one")
    func retentionRunHonoursServe() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let data = ["--data-dir", scratch.dataDir]
        let storeEngine = try await DataFolder(path: scratch.dataDir).openEngine()
        let store = storeEngine.store
        let twelve = try RetentionPolicy(parsing: "12")
        try await store.setRetentionPolicy(
            twelve,
            at: Timestamp(.now),
            audit: AuditEvent(occurredAt: Timestamp(.now), actor: "serve", action: "retention.set")
        )
        await storeEngine.close()
        let run = try await runBinary(["retention", "run", "--dry-run"] + data)
        #expect(run.status == 0)
        #expect(run.standardOutput.contains("retention 12 months"))
        let refused = try await runBinary(["retention", "run", "--retention-months", "3"] + data)
        #expect(refused.status == 1)
        #expect(refused.standardError.contains("shorter than the retention this deployment runs with (12 months"))
        #expect(try await runBinary(["retention", "run", "--retention-months", "unlimited", "--dry-run"] + data).status == 0)
    }
}
