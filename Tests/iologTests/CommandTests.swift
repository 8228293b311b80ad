import ArgumentParser
import Foundation
import IOLogCore
import IOLogTestSupport
import Testing

@testable import iolog

@Suite("iolog commands")
struct CommandTests {
    @Test func accountsMembersAndTokensChangeTheDataFolder() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let data = ["--data-dir", scratch.dataDir]
        try await runInProcess(["accounts", "upsert", "org_acme", "--kind", "organization", "--name", "Acme"] + data)
        try await runInProcess(["members", "set", "org_acme", "user_42", "--role", "admin"] + data)
        try await runInProcess(["members", "set", "org_acme", "user_7", "--role", "member"] + data)
        try await runInProcess(["tokens", "create", "--user", "user_42"] + data)
        try await runInProcess(["tokens", "create", "--gateway", "--label", "edge"] + data)

        let storeEngine = try await DataFolder(path: scratch.dataDir).openEngine()

        let store = storeEngine.store
        #expect(try await store.account(id: "org_acme")?.name == "Acme")
        #expect(try await store.role(accountID: "org_acme", userID: "user_42") == .admin)
        #expect(try await store.role(accountID: "org_acme", userID: "user_7") == .member)
        let tokens = try await store.tokens()
        #expect(Set(tokens.map(\.kind)) == [.user, .gateway])
        #expect(tokens.first { $0.kind == .user }?.userID == "user_42")
        await storeEngine.close()

        try await runInProcess(["members", "remove", "org_acme", "user_7"] + data)
        let gatewayID = try #require(tokens.first { $0.kind == .gateway }?.id)
        try await runInProcess(["tokens", "revoke", gatewayID] + data)
        let reopenedEngine = try await DataFolder(path: scratch.dataDir).openEngine()
        let reopened = reopenedEngine.store
        #expect(try await reopened.role(accountID: "org_acme", userID: "user_7") == nil)
        #expect(try await reopened.tokens().first { $0.id == gatewayID }?.revokedAt != nil)
        await reopenedEngine.close()
    }

    @Test(
        "bad usage exits 64",
        arguments: [
            ["accounts", "upsert", "bad id!", "--kind", "personal"],
            ["accounts", "upsert", "acct", "--kind", "company"],
            ["accounts", "upsert", "acct"],
            ["members", "set", "acct", "u", "--role", "owner"],
            ["tokens", "create"],
            ["tokens", "create", "--gateway", "--platform"],
            ["tokens", "create", "--user", "not valid"],
            ["serve", "--port", "70000"],
            ["no-such-command"],
        ]
    )
    func badUsageExits64(arguments: [String]) async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        #expect(await exitCodeInProcess(arguments + ["--data-dir", scratch.dataDir]) == 64)
    }

    @Test(
        "refused actions exit 1",
        arguments: [
            ["members", "set", "ghost", "u", "--role", "admin"],
            ["members", "remove", "ghost", "u"],
            ["tokens", "revoke", "gw-0000000000000000"],
        ]
    )
    func refusedActionsExit1(arguments: [String]) async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        #expect(await exitCodeInProcess(arguments + ["--data-dir", scratch.dataDir]) == 1)
    }
}
