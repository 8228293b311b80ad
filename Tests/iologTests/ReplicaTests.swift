import Foundation
import IOLogCore
import IOLogTestSupport
import Synchronization
import Testing

/// Three `iolog serve` processes on one PostgreSQL database, as replicas behind a load balancer.
@Suite("Replicas on one PostgreSQL", .enabled(if: TestStorage.isPostgres, "replicas share a PostgreSQL server; SQLite is one machine's file"))
struct ReplicaTests {
    typealias Replica = ServeProcess

    /// In every body sent; no replica may write it anywhere in its output.
    static let bodyMarker = "REPLICA-BODY-MARKER-8d1f"

    /// Answers per id, filled by concurrent posts.
    final class Answers: Sendable {
        let byID = Mutex<[String: [String]]>([:])
    }

    /// Starts a replica on `dataDir`'s database (the data folder itself stays empty) and waits for /healthz.
    func start(_ scratch: Scratch, keyFile: String, index: Int) async throws -> Replica {
        try await ServeProcess.start(
            scratch,
            ["--master-key-file", keyFile, "--retention-interval-seconds", "1"],
            name: "replica-\(index)"
        )
    }

    /// Posts one generation; the status code and the answer's `status` (or its text).
    static func post(_ replica: Replica, _ body: Data, token: String) async throws -> (Int, String) {
        let (code, data) = try await replica.request("/v1/generations", method: "POST", token: token, body: body)
        let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        return (code, object["status"] as? String ?? String(decoding: data, as: UTF8.self))
    }

    func status(_ replica: Replica, _ path: String, token: String) async throws -> Int {
        try await replica.request(path, token: token).status
    }

    static func generation(_ id: String, body: String) throws -> Data {
        try JSONSerialization.data(
            withJSONObject: [
                "id": id, "account_id": "org_acme", "created_at": "2026-11-20T10:00:00Z", "model": "openai/gpt-4o", "provider": "OpenAI",
                "prompt": [["role": "user", "content": "\(bodyMarker) \(body)"]],
                "completion": ["role": "assistant", "content": "\(bodyMarker) answer to \(body)"],
            ] as [String: Any]
        )
    }

    @Test("ingest through three replicas at once: the same ids to different replicas, none lost, none twice; one purge runner; erasure everywhere")
    func threeReplicas() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let keyFile = scratch.path + "/master.key"
        _ = try MasterKey.createFile(at: keyFile)
        let (gateway, admin) = try await TestStorage.with(DataFolder(path: scratch.dataDir)) { engine in
            let directory = AccountDirectory(store: engine.store)
            _ = try await directory.upsertAccount(id: "org_acme", kind: .organization, name: "Acme", actor: "test")
            _ = try await engine.store.setIOLogging(accountID: "org_acme", enabled: true, at: Timestamp(micros: 0), audit: nil)
            try await directory.setRole(accountID: "org_acme", userID: "alice", role: .admin, actor: "test")
            let tokens = TokenService(store: engine.store)
            return (
                try await tokens.create(kind: .gateway, actor: "test").token,
                try await tokens.create(kind: .user, userID: "alice", actor: "test").token
            )
        }
        var replicas: [Replica] = []
        for index in 0..<3 { replicas.append(try await start(scratch, keyFile: keyFile, index: index)) }
        defer { for replica in replicas where replica.process.isRunning { replica.process.terminate() } }
        let started = replicas
        guard replicas.count == 3 else { return }

        // Every id goes to two different replicas at the same moment, as a gateway retry after a
        // timeout would; each answer must be true.
        let ids = (0..<150).map { "gen-replica-\($0)" }
        let answers = Answers()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, id) in ids.enumerated() {
                let body = try Self.generation(id, body: "prompt \(id)")
                for replica in [started[index % 3], started[(index + 1) % 3]] {
                    group.addTask {
                        let (code, status) = try await Self.post(replica, body, token: gateway)
                        answers.byID.withLock { $0[id, default: []].append("\(code) \(status)") }
                    }
                }
            }
            try await group.waitForAll()
        }
        for id in ids {
            let got = answers.byID.withLock { $0[id] ?? [] }.sorted()
            #expect(got == ["200 duplicate", "201 stored"], "\(id): \(got)")
        }
        // The same id with other content is a conflict, whichever replica sees it.
        #expect(try await Self.post(started[2], Self.generation("gen-replica-0", body: "something else"), token: gateway).0 == 409)

        // Every acknowledged id is readable through every replica, and stored once.
        for (index, id) in ids.enumerated() where index % 10 == 0 {
            for replica in started {
                #expect(try await status(replica, "/v1/accounts/org_acme/generations/\(id)", token: admin) == 200)
            }
        }
        let counts = try await TestStorage.with(DataFolder(path: scratch.dataDir)) { engine in
            try await TestSQL.rows(engine, "SELECT (SELECT count(*) FROM generations), (SELECT count(*) FROM generation_ids)")
        }
        #expect(counts == [["150", "150"]])

        // Exactly one replica took the retention purge.
        try await Task.sleep(for: .seconds(3))
        let runners = try started.filter {
            try String(contentsOfFile: $0.errorPath, encoding: .utf8).contains("this process runs the retention purge")
        }
        #expect(runners.count == 1)

        // Support erases the account with the command line: unreadable through every replica at once.
        let filed = try await runBinary([
            "deletion", "request", "--account", "org_acme", "--requested-by", "alice", "--ticket", "T-1", "--data-dir", scratch.dataDir,
        ])
        #expect(filed.status == 0, "\(filed.standardError)")
        let run = try await runBinary([
            "deletion", "run", filed.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines), "--data-dir", scratch.dataDir,
        ])
        #expect(run.status == 0, "\(run.standardError)")
        for replica in started {
            #expect(try await status(replica, "/v1/accounts/org_acme/generations/gen-replica-3", token: admin) == 404)
        }
        // A late retry of an erased id, through any replica, is not stored again.
        let (late, lateBody) = try await Self.post(started[1], Self.generation("gen-replica-3", body: "prompt gen-replica-3"), token: gateway)
        #expect(late == 202, "\(lateBody)")

        // Everything the replicas printed, error paths (the 409, the refused retry) included,
        // holds no body and no token secret.
        for replica in started {
            replica.process.terminate()
            await replica.process.exited()
            let output = try String(contentsOfFile: replica.outputPath, encoding: .utf8) + String(contentsOfFile: replica.errorPath, encoding: .utf8)
            #expect(!output.isEmpty)
            #expect(!output.contains(Self.bodyMarker), "a body reached a replica's output")
            for token in [gateway, admin] {
                #expect(!output.contains(String(token.split(separator: "_").last ?? "")), "a token secret reached a replica's output")
            }
        }
    }
}
