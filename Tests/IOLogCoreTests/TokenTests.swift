import Foundation
import IOLogTestSupport
import Testing

@testable import IOLogCore

@Suite("Tokens")
struct TokenTests {
    @Test func tokensAuthenticateAsTheirKind() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let storeEngine = try await folder.dataFolder.openEngine()
        let store = storeEngine.store
        let service = TokenService(store: store)
        let gateway = try await service.create(kind: .gateway, actor: "test")
        let platform = try await service.create(kind: .platform, actor: "test")
        let user = try await service.create(kind: .user, userID: "user_42", label: "laptop", actor: "test")
        #expect(gateway.token.hasPrefix("iolog_gw-"))
        #expect(try await service.authenticate(gateway.token) == .gateway(tokenID: gateway.record.id))
        #expect(try await service.authenticate(platform.token) == .platform(tokenID: platform.record.id))
        #expect(try await service.authenticate(user.token) == .user(tokenID: user.record.id, userID: "user_42"))
        await storeEngine.close()
    }

    @Test("an ingest token belongs to one existing account; its making and revoking are in that account's trail")
    func ingestTokensBelongToOneAccount() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let storeEngine = try await folder.dataFolder.openEngine()
        let store = storeEngine.store
        let service = TokenService(store: store)
        _ = try await AccountDirectory(store: store).upsertAccount(id: "org_a", kind: .organization, name: nil, actor: "test")
        let issued = try await service.create(kind: .ingest, accountID: "org_a", label: "broadcast", actor: "cli:root")
        #expect(issued.token.hasPrefix("iolog_ing-"))
        #expect(issued.record.accountID == "org_a")
        let principal = try await service.authenticate(issued.token)
        #expect(principal == .ingest(tokenID: issued.record.id, accountID: "org_a"))
        #expect(principal?.mayIngest(for: "org_a") == true)
        #expect(principal?.mayIngest(for: "org_b") == false)
        #expect(try await store.tokens().first { $0.id == issued.record.id }?.accountID == "org_a")

        for (kind, user, account, message) in [
            (TokenKind.ingest, nil, nil, "needs an account"), (.ingest, nil, "ghost", "no account ghost"),
            (.ingest, nil, "bad id", "account"), (.gateway, nil, "org_a", "only ingest tokens"), (.ingest, "alice", "org_a", "only user tokens"),
        ] as [(TokenKind, String?, String?, String)] {
            let error = await #expect(throws: IOLogError.self) {
                try await service.create(kind: kind, userID: user, accountID: account, actor: "test")
            }
            #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
        }
        let badLabel = await #expect(throws: IOLogError.self) {
            try await service.create(kind: .ingest, accountID: "org_a", label: "a\nb", actor: "test")
        }
        #expect(badLabel?.message.contains("label") == true)

        try await service.revoke(id: issued.record.id, actor: "user:alice (usr-1)")
        #expect(try await service.authenticate(issued.token) == nil)
        let trail = try await store.auditEvents(accountID: "org_a", actions: nil, before: nil, limit: 10)
        let actions = trail.filter { $0.event.target == issued.record.id }.map { "\($0.event.action) by \($0.event.actor)" }
        #expect(actions == ["token.revoke by user:alice (usr-1)", "token.create by cli:root"])
        await storeEngine.close()
    }

    @Test func wrongMalformedAndRevokedTokensAreRejected() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let storeEngine = try await folder.dataFolder.openEngine()
        let store = storeEngine.store
        let service = TokenService(store: store)
        let issued = try await service.create(kind: .gateway, actor: "test")
        var wrongSecret = issued.token
        wrongSecret.removeLast()
        wrongSecret.append(issued.token.last == "0" ? "1" : "0")
        for presented in [
            wrongSecret, "", "Bearer x", "iolog_", "iolog_gw-1_2", issued.token + "0", "iolog_nope_" + String(repeating: "a", count: 64),
        ] {
            #expect(try await service.authenticate(presented) == nil, "accepted \(presented)")
        }
        try await service.revoke(id: issued.record.id, actor: "test")
        #expect(try await service.authenticate(issued.token) == nil)
        let again = await #expect(throws: IOLogError.self) { try await service.revoke(id: issued.record.id, actor: "test") }
        #expect(again?.code == .notFound)
        #expect(try await store.tokens().first?.revokedAt != nil)
        await storeEngine.close()
    }

    @Test func onlyUserTokensHaveUsers() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let storeEngine = try await folder.dataFolder.openEngine()
        let store = storeEngine.store
        let service = TokenService(store: store)
        await #expect(throws: IOLogError.self) { try await service.create(kind: .user, actor: "test") }
        await #expect(throws: IOLogError.self) { try await service.create(kind: .gateway, userID: "u", actor: "test") }
        await #expect(throws: IOLogError.self) { try await service.create(kind: .user, userID: "bad id", actor: "test") }
        await storeEngine.close()
    }

    @Test func onlyTheSecretsDigestIsStored() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let started = Date()
        let storeEngine = try await folder.dataFolder.openEngine()
        let store = storeEngine.store
        let issued = try await TokenService(store: store).create(kind: .platform, actor: "test")
        let clusterFiles = try await TestStorage.clusterFiles(of: storeEngine, since: started)
        await storeEngine.close()
        let secret = Array(issued.token.split(separator: "_").last!.utf8)
        let paths = TestStorage.isPostgres ? clusterFiles : try folder.allFiles().map(\.path)
        #expect(!paths.isEmpty)
        for path in paths {
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            #expect(![UInt8](data).contains(subsequence: secret), "token secret found in \(path)")
        }
    }
}
