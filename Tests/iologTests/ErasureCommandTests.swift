import Foundation
import IOLogCore
import IOLogTestSupport
import Testing

@testable import iolog

@Suite("iolog deletion and retention")
struct ErasureCommandTests {
    /// A data folder with org_a (admin alice, member bob), `rows` generations with filler bodies
    /// and one real data key.
    func prepare(_ scratch: Scratch, rows: Int) async throws {
        let folder = DataFolder(path: scratch.dataDir)
        try folder.create()
        let storeEngine = try await folder.openEngine()
        let store = storeEngine.store
        let keyringEngine = try await folder.openEngine()
        let keyring = try await keyringEngine.keyring(masterKey: MasterKey(try SymmetricKey.random()))
        _ = try await keyring.currentKey(for: "org_a")
        await keyringEngine.close()
        let directory = AccountDirectory(store: store, clock: .fixed(Timestamp(micros: 1).date))
        _ = try await directory.upsertAccount(id: "org_a", kind: .organization, name: nil, actor: "test")
        try await directory.setRole(accountID: "org_a", userID: "alice", role: .admin, actor: "test")
        try await directory.setRole(accountID: "org_a", userID: "bob", role: .member, actor: "test")
        let filler = [UInt8](repeating: 0xA5, count: 900)
        for start in stride(from: 0, to: rows, by: 2_000) {
            let batch = (start..<min(start + 2_000, rows)).map { index in
                SealedGeneration(
                    id: "g-\(index)",
                    accountID: "org_a",
                    createdAt: Timestamp(micros: Int64(index)),
                    storedAt: Timestamp(micros: Int64(index)),
                    model: "m",
                    provider: "p",
                    region: "global",
                    contentMAC: Array(repeating: UInt8(index % 251), count: 32),
                    promptSealed: filler,
                    completionSealed: filler,
                    reasoningSealed: nil
                )
            }
            _ = try await store.insertGenerations(batch)
        }
        await storeEngine.close()
    }

    @Test func retentionShorterThanThreeMonthsIsRefusedAtStart() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        for command in [["serve", "--dev"], ["retention", "run"]] {
            let run = try await runBinary(command + ["--retention-months", "2", "--data-dir", scratch.dataDir])
            #expect(run.status == 64)
            #expect(run.standardError.contains("shorter than the three months"))
        }
        let dry = try await runBinary(["retention", "run", "--dry-run", "--retention-months", "unlimited", "--data-dir", scratch.dataDir])
        #expect(dry.status == 0)
        #expect(dry.standardOutput.contains("unlimited"))
    }

    @Test func retentionRunSaysWhatItRemoves() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        try await prepare(scratch, rows: 10)
        let dry = try await runBinary(["retention", "run", "--dry-run", "--data-dir", scratch.dataDir])
        #expect(dry.status == 0)
        #expect(dry.standardOutput.hasPrefix("would remove 10 generation(s) created before "))
        let run = try await runBinary(["retention", "run", "--data-dir", scratch.dataDir])
        #expect(run.standardOutput.hasPrefix("removed 10 generation(s)"))
        #expect(run.standardOutput.contains("org_a: 10"))
        #expect(try await runBinary(["retention", "run", "--data-dir", scratch.dataDir]).standardOutput.hasPrefix("removed 0 generation(s)"))
    }

    @Test func requestsAreRefusedUnlessAnAdminAsked() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        try await prepare(scratch, rows: 1)
        let base = ["deletion", "request", "--account", "org_a", "--ticket", "T-1", "--data-dir", scratch.dataDir]
        let member = try await runBinary(base + ["--requested-by", "bob"])
        #expect(member.status == 1)
        #expect(member.standardError.contains("bob is not an admin of org_a"))
        #expect(member.standardError.split(separator: "\n").count == 1)
        #expect(try await runBinary(base + ["--requested-by", "alice", "--generation", "g-0", "--before", "2026-01-01T00:00:00Z"]).status == 64)
        #expect(try await runBinary(base + ["--requested-by", "alice", "--before", "soon"]).status == 64)
        #expect(try await runBinary(base + ["--requested-by", "alice", "--user", "u 1"]).status == 64)
        #expect(try await runBinary(base + ["--requested-by", "alice", "--user", "u1", "--generation", "g-0"]).status == 64)
        // An end user's erasure is recorded and its receipt names the user.
        let user = try await runBinary(base + ["--requested-by", "alice", "--user", "sha256:ff8d9819fc0e12bf0d24892e45987e24"])
        #expect(user.status == 0, "\(user.standardError)")
        let userRequest = user.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        let ran = try await runBinary(["deletion", "run", userRequest, "--data-dir", scratch.dataDir])
        #expect(ran.standardOutput.contains("every generation of end user sha256:ff8d9819fc0e12bf0d24892e45987e24"))
        #expect(ran.standardOutput.contains("status:          completed"))
        #expect(try await runBinary(["deletion", "run", "--data-dir", scratch.dataDir]).status == 64)
        #expect(try await runBinary(["deletion", "show", "del-0000", "--data-dir", scratch.dataDir]).status == 1)
        let filed = try await runBinary(base + ["--requested-by", "alice"])
        #expect(filed.status == 0)
        let id = filed.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(id.hasPrefix("del-"))
        let list = try await runBinary(["deletion", "list", "--status", "pending", "--data-dir", scratch.dataDir])
        #expect(list.standardOutput.contains(id))
    }

    /// Kills `iolog deletion run` with SIGKILL once it has erased some rows, then runs it again:
    /// the run completes and the receipt counts every row and the key exactly once.
    @Test func anInterruptedRunCompletesWhenRunAgain() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let total = 40_000
        try await prepare(scratch, rows: total)
        let filed = try await runBinary([
            "deletion", "request", "--account", "org_a", "--requested-by", "alice", "--ticket", "T-9", "--data-dir", scratch.dataDir,
        ])
        let id = filed.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)

        let process = try await binaryProcess(["deletion", "run", id, "--data-dir", scratch.dataDir])
        let storeEngine = try await DataFolder(path: scratch.dataDir).openEngine()
        let store = storeEngine.store
        var partial: DeletionRequest?
        for _ in 0..<2_000 where partial == nil {
            if let request = try await store.deletionRequest(id: id), request.rowsErased > 0 { partial = request }
            try await Task.sleep(for: .milliseconds(2))
        }
        kill(process.processIdentifier, SIGKILL)
        await process.exited()
        let interrupted = try #require(try await store.deletionRequest(id: id))
        await storeEngine.close()
        #expect(interrupted.status == .running, "the run finished before it could be interrupted; make the test's data larger")
        #expect(interrupted.keysDestroyedAt != nil)
        #expect(interrupted.rowsErased > 0 && interrupted.rowsErased < total)

        let again = try await runBinary(["deletion", "run", id, "--data-dir", scratch.dataDir])
        #expect(again.status == 0, "\(again.standardError)")
        #expect(again.standardOutput.contains("status:          completed"))
        #expect(again.standardOutput.contains("rows erased:     \(total)"))
        #expect(again.standardOutput.contains("keys destroyed:  1 at"))
        let shown = try await runBinary(["deletion", "show", id, "--data-dir", scratch.dataDir])
        #expect(shown.standardOutput == again.standardOutput)
        let left = try await TestStorage.with(DataFolder(path: scratch.dataDir)) { engine in
            try await TestSQL.rows(engine, "SELECT count(*) FROM generations")
        }
        #expect(left == [["0"]])
    }
}
