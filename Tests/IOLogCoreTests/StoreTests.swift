import Foundation
import IOLogTestSupport
import Testing

@testable import IOLogCore

@Suite("Log store")
struct StoreTests {
    @Test func accountsKeepTheirLoggingSettingOnUpsert() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let storeEngine = try await folder.dataFolder.openEngine()
        let store = storeEngine.store
        let created = try await AccountDirectory(store: store).upsertAccount(id: "org_acme", kind: .organization, name: "Acme", actor: "test")
        #expect(created.ioLogging == IOLoggingSetting(enabled: false, enabledAt: nil))
        let on = try await store.setIOLogging(accountID: "org_acme", enabled: true, at: Timestamp(micros: 100), audit: nil)
        #expect(on == IOLoggingSetting(enabled: true, enabledAt: Timestamp(micros: 100)))
        // Enabling again keeps the original moment; disabling then enabling moves it.
        #expect(try await store.setIOLogging(accountID: "org_acme", enabled: true, at: Timestamp(micros: 200), audit: nil).enabledAt?.micros == 100)
        let off = try await store.setIOLogging(accountID: "org_acme", enabled: false, at: Timestamp(micros: 300), audit: nil)
        #expect(off.enabled == false)
        #expect(try await store.setIOLogging(accountID: "org_acme", enabled: true, at: Timestamp(micros: 400), audit: nil).enabledAt?.micros == 400)
        let renamed = try await AccountDirectory(store: store).upsertAccount(id: "org_acme", kind: .organization, name: "Acme Inc", actor: "test")
        #expect(renamed.name == "Acme Inc")
        #expect(renamed.ioLogging.enabled)
        await #expect(throws: IOLogError.self) {
            try await store.setIOLogging(accountID: "nope", enabled: true, at: Timestamp(micros: 1), audit: nil)
        }
        await storeEngine.close()
    }

    @Test func membershipsNeedAnAccount() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let storeEngine = try await folder.dataFolder.openEngine()
        let store = storeEngine.store
        let error = await #expect(throws: IOLogError.self) {
            try await AccountDirectory(store: store).setRole(accountID: "ghost", userID: "u", role: .admin, actor: "test")
        }
        #expect(error?.code == .notFound)
        _ = try await AccountDirectory(store: store).upsertAccount(id: "acct", kind: .personal, name: nil, actor: "test")
        try await AccountDirectory(store: store).setRole(accountID: "acct", userID: "u", role: .member, actor: "test")
        #expect(try await store.role(accountID: "acct", userID: "u") == .member)
        try await AccountDirectory(store: store).setRole(accountID: "acct", userID: "u", role: .admin, actor: "test")
        #expect(try await store.role(accountID: "acct", userID: "u") == .admin)
        #expect(try await AccountDirectory(store: store).removeMember(accountID: "acct", userID: "u", actor: "test"))
        #expect(try await AccountDirectory(store: store).removeMember(accountID: "acct", userID: "u", actor: "test") == false)
        #expect(try await store.role(accountID: "acct", userID: "u") == nil)
        await storeEngine.close()
    }

    @Test func generationsRoundTripAndIdsAreUnique() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let storeEngine = try await folder.dataFolder.openEngine()
        let store = storeEngine.store
        _ = try await AccountDirectory(store: store).upsertAccount(id: "acct", kind: .personal, name: nil, actor: "test")
        let generation = SealedGeneration(
            id: "gen-1",
            accountID: "acct",
            createdAt: Timestamp(micros: 10),
            storedAt: Timestamp(micros: 11),
            userID: "u",
            model: "openai/gpt-4o",
            provider: "OpenAI",
            region: "global",
            promptTokens: 12,
            completionTokens: 3,
            costUSD: 0.0041,
            latencyMilliseconds: 812,
            finishReason: "stop",
            streamed: true,
            contentMAC: [UInt8](repeating: 1, count: 32),
            promptSealed: [1, 2, 3],
            completionSealed: [4, 5],
            reasoningSealed: nil
        )
        try await store.insertGeneration(generation)
        #expect(try await store.generation(id: "gen-1") == generation)
        let error = await #expect(throws: IOLogError.self) { try await store.insertGeneration(generation) }
        #expect(error?.code == .conflict)
        #expect(try await store.generation(id: "gen-2") == nil)
        await storeEngine.close()
    }

    @Test("a generation's session is stored, listed and filtered on, alone and with the user")
    func sessionsAreStoredAndFiltered() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let storeEngine = try await folder.dataFolder.openEngine()
        let store = storeEngine.store
        _ = try await AccountDirectory(store: store).upsertAccount(id: "acct", kind: .personal, name: nil, actor: "test")
        _ = try await AccountDirectory(store: store).upsertAccount(id: "other", kind: .personal, name: nil, actor: "test")
        func row(_ id: String, account: String = "acct", at micros: Int64, user: String?, session: String?) -> SealedGeneration {
            SealedGeneration(
                id: id,
                accountID: account,
                createdAt: Timestamp(micros: micros),
                storedAt: Timestamp(micros: micros),
                userID: user,
                sessionID: session,
                model: "m",
                provider: "p",
                region: "global",
                contentMAC: [UInt8](repeating: 1, count: 32),
                promptSealed: [1],
                completionSealed: [2]
            )
        }
        let rows = [
            row("g1", at: 10, user: "u1", session: "chat-1"), row("g2", at: 20, user: "u2", session: "chat-1"),
            row("g3", at: 30, user: "u1", session: "chat-2"), row("g4", at: 40, user: "u1", session: nil),
            row("g5", account: "other", at: 50, user: "u1", session: "chat-1"),
        ]
        for generation in rows { try await store.insertGeneration(generation) }
        #expect(try await store.generation(id: "g2") == rows[1])
        #expect(try await store.generation(id: "g4")?.sessionID == nil)

        func ids(_ filter: GenerationFilter) async throws -> [String] {
            let listed = try await store.generationSummaries(accountID: "acct", filter: filter, after: nil, limit: 10)
            let exported = try await store.sealedGenerations(accountID: "acct", filter: filter, after: nil, limit: 10)
            #expect(listed.map(\.id) == exported.map(\.id))
            #expect(listed.map(\.sessionID) == exported.map(\.sessionID))
            return listed.map(\.id)
        }
        #expect(try await ids(GenerationFilter(sessionID: "chat-1")) == ["g2", "g1"])
        #expect(try await ids(GenerationFilter(userID: "u1", sessionID: "chat-1")) == ["g1"])
        #expect(try await ids(GenerationFilter(sessionID: "chat-9")) == [])
        #expect(try await ids(GenerationFilter()) == ["g4", "g3", "g2", "g1"])
        let page = try await store.generationSummaries(accountID: "acct", filter: GenerationFilter(), after: nil, limit: 10)
        #expect(page.map(\.sessionID) == [nil, "chat-2", "chat-1", "chat-1"])
        await storeEngine.close()
    }

    @Test(.enabled(if: TestStorage.isSQLite, "the data folder's own database files; PostgreSQL keeps none there"))
    func databaseFilesArePrivate() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let data = DataFolder(path: folder.path + "/data")
        let storeEngine = try await data.openEngine()
        let store = storeEngine.store
        let keyringEngine = try await data.openEngine()
        let keyring = try await keyringEngine.keyring(masterKey: try randomMasterKey())
        _ = try await AccountDirectory(store: store).upsertAccount(id: "acct", kind: .personal, name: nil, actor: "test")
        _ = try await keyring.currentKey(for: "acct")
        let folderMode = try FileManager.default.attributesOfItem(atPath: data.path)[.posixPermissions] as? Int
        #expect(folderMode == 0o700)
        for name in try FileManager.default.contentsOfDirectory(atPath: data.path) {
            let mode = try FileManager.default.attributesOfItem(atPath: data.path + "/" + name)[.posixPermissions] as? Int
            #expect(mode == 0o600, "\(name) has mode \(String(mode ?? 0, radix: 8))")
        }
        await storeEngine.close()
        await keyringEngine.close()
    }
}

@Suite("SQLite write-ahead log")
struct WALCheckpointTests {
    @Test("commits never checkpoint; the store's own connection copies the log into the database file meanwhile")
    func checkpointsRunOffTheCommitPath() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.path + "/log.sqlite"
        let store = try SQLiteStore(path: path)
        try await store.migrate()
        #expect(try await store.withDatabase { db in try db.queryFirst("PRAGMA wal_autocheckpoint") { $0.int64(0) } } == 0)
        _ = try await AccountDirectory(store: store).upsertAccount(id: "acct", kind: .personal, name: nil, actor: "test")
        let body = [UInt8](repeating: 7, count: 4_000)
        for chunk in 0..<10 {
            let rows = (0..<200).map { index in
                SealedGeneration(
                    id: "gen-\(chunk)-\(index)",
                    accountID: "acct",
                    createdAt: Timestamp(micros: 1),
                    storedAt: Timestamp(micros: 1),
                    model: "m",
                    provider: "p",
                    region: "global",
                    contentMAC: [1],
                    promptSealed: body,
                    completionSealed: body
                )
            }
            #expect(try await store.insertGenerations(rows).allSatisfy { $0 == .stored })
        }
        // About 16 MB went through the log; the database file grows as checkpoints copy it.
        var size = 0
        for _ in 0..<50 where size < 8_000_000 {
            try await Task.sleep(for: .milliseconds(100))
            size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        }
        #expect(size >= 8_000_000, "the database file is \(size) bytes: nothing checkpointed the log")
        await store.close()
    }
}
