import Foundation
import Hummingbird
import HummingbirdTesting
import IOLogCore
import IOLogServer
import IOLogTestSupport
import Synchronization
import Testing

@Suite("Ingest privacy and durability")
struct PrivacyAndDurabilityTests {
    /// Markers go in through every path (stored, skipped for EU, skipped for not opted in,
    /// inside invalid requests); afterwards no file in the data folder and no line the
    /// server logged contains any of them in plaintext.
    @Test func markersNeverReachDiskOrLogs() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        let started = Date()
        let logs = LogCapture()
        let markers = [
            "STORED-PROMPT-9f2c1e", "STORED-COMPLETION-44ab07", "STORED-REASONING-d1e2f3", "EU-PROMPT-77aa01",
            "NOTOPTED-PROMPT-5c5c5c", "INVALID-PROMPT-e0e0e0", "INVALIDJSON-PROMPT-abab12", "BATCH-PROMPT-123abc",
        ]
        let stored = generation(
            "gen-marker-stored",
            [
                "prompt": [["role": "user", "content": markers[0]]], "completion": ["role": "assistant", "content": markers[1]],
                "reasoning": markers[2],
            ]
        )
        let eu = generation(["routing": ["region": "eu"], "prompt": markers[3]])
        let notOptedIn = generation(account: "org_off", ["prompt": markers[4]])
        let invalid = generation(["cost_usd": -1, "prompt": markers[5]])
        let brokenJSON = ByteBuffer(string: #"{"id": "gen-x", "prompt": ""# + markers[6] + #"", oops"#)
        let batch = Payload.batch([
            generation(["routing": ["region": "eu"], "prompt": markers[7]]), generation(["latency_ms": "x", "prompt": markers[7]]),
        ])

        try await fixture.withApp(logs: logs) { client in
            #expect(try await client.ingest(stored, token: fixture.gateway).0 == .created)
            #expect(try await client.ingest(eu, token: fixture.gateway).0 == .accepted)
            #expect(try await client.ingest(notOptedIn, token: fixture.gateway).0 == .accepted)
            let (status, answer) = try await client.ingest(invalid, token: fixture.gateway)
            #expect(status == .badRequest)
            #expect(!"\(answer)".contains(markers[5]))
            for (buffer, uri) in [(brokenJSON, "/v1/generations"), (batch.buffer, "/v1/generations/batch")] {
                let text = try await client.execute(uri: uri, method: .post, headers: headers(token: fixture.gateway), body: buffer) {
                    String(buffer: $0.body)
                }
                #expect(!markers.contains { text.contains($0) }, "an answer echoes a marker: \(text)")
            }
            // A platform token posting content: refused without echo either.
            let forbidden = try await client.execute(
                uri: "/v1/generations",
                method: .post,
                headers: headers(token: fixture.platform),
                body: eu.buffer
            ) { String(buffer: $0.body) }
            #expect(!forbidden.contains(markers[3]))
        }

        // The stored one is really there (and sealed).
        let row = try await fixture.withStore { store in try await store.generation(id: "gen-marker-stored") }
        #expect(row?.reasoningSealed != nil)

        // Every file the engine writes: the data folder's databases, or the PostgreSQL files of
        // this test's database and the WAL written meanwhile.
        let files = try await fixture.withEngine { engine in try await StoredFiles.paths(folder: fixture.path, engine: engine, since: started) }
        #expect(files.contains { $0.hasSuffix(TestStorage.isPostgres ? "" : "/iolog.sqlite") && (TestStorage.isSQLite || $0.contains("/pg_wal/")) })
        for name in files {
            for marker in markers {
                #expect(!StoredFiles.file(name, contains: Array(marker.utf8)), "\(marker) found in \(name)")
            }
        }
        let logged = logs.text
        #expect(!logged.isEmpty)
        for marker in markers { #expect(!logged.contains(marker), "\(marker) found in the server's log") }
    }

    /// 240 concurrent single ingests: every acknowledged id is in the database after it is
    /// reopened, and commits were shared (far fewer commits than requests).
    @Test func concurrentIngestsShareCommitsAndSurviveReopen() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        let requests = 240
        let acked = Mutex<[String]>([])
        do {
            try await fixture.withApp { client in
                let ids = try await withThrowingTaskGroup(of: String?.self) { group in
                    for index in 0..<requests {
                        group.addTask {
                            let (status, body) = try await client.ingest(generation("gen-concurrent-\(index)"), token: fixture.gateway)
                            return status == .created ? body["id"] as? String : nil
                        }
                    }
                    return try await group.reduce(into: [String]()) { if let id = $1 { $0.append(id) } }
                }
                #expect(ids.count == requests)
                let metrics = try await client.execute(uri: "/metrics", method: .get) { String(buffer: $0.body) }
                let commits = metrics.split(separator: "\n").first { $0.hasPrefix("iolog_ingest_commit_duration_seconds_count") }
                    .flatMap { Int($0.split(separator: " ")[1]) }
                let committed = try #require(commits)
                #expect(committed >= 1)
                #expect(committed * 4 <= requests, "\(committed) commits for \(requests) requests: commits are not shared")
                print("concurrent ingest: \(requests) requests, \(committed) commits")
                acked.withLock { $0 = ids }
            }
        }
        let present = Set(try await fixture.sql("SELECT id FROM generations WHERE id LIKE 'gen-concurrent-%'").map { $0[0] })
        #expect(Set(acked.withLock { $0 }).isSubset(of: present))
        #expect(present.count == requests)
    }

    @Test func aFullWriteQueueAnswers503WithRetryAfter() async throws {
        let fixture = try await Fixture { $0.ingestQueueCapacity = 1 }
        defer { fixture.remove() }
        try await fixture.withApp { client in
            var overloaded = 0
            var created = 0
            for round in 0..<5 where overloaded == 0 {
                let answers = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String?, String?).self) { group in
                    for index in 0..<100 {
                        group.addTask {
                            try await client.execute(
                                uri: "/v1/generations",
                                method: .post,
                                headers: headers(token: fixture.gateway),
                                body: generation("gen-full-\(round)-\(index)").buffer
                            ) { ($0.status, $0.headers[.retryAfter], (try? jsonObject($0)["error"] as? [String: Any])?["code"] as? String) }
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                for (status, retryAfter, code) in answers {
                    if status == .serviceUnavailable {
                        overloaded += 1
                        #expect(retryAfter == "1")
                        #expect(code == "overloaded")
                    } else {
                        #expect(status == .created)
                        created += 1
                    }
                }
            }
            #expect(overloaded > 0)
            #expect(created > 0)
        }
    }
}
