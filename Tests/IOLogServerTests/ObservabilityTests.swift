import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IOLogCore
import IOLogServer
import IOLogTestSupport
import Testing

/// `/metrics` (swift-metrics into Prometheus text) and the request id on every log line.
@Suite("Metrics and request ids")
struct ObservabilityTests {
    /// Every sample of a /metrics page, parsed by the Prometheus reference parser
    /// (`scripts/prometheus-parse`, prometheus-client from PyPI): name, labels, value.
    struct Sample: Hashable {
        let name: String
        let labels: [String: String]
        let value: Double
    }

    static func parse(_ text: String) async throws -> [Sample] {
        let path = NSTemporaryDirectory() + "iolog-metrics-" + UUID().uuidString
        defer {
            for suffix in ["", ".out", ".err"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../scripts/prometheus-parse")
            .standardized.path
        let parser = try ChildProcess(
            // The python3 on PATH, the one scripts/setup installed prometheus-client for.
            executable: "/usr/bin/env",
            arguments: ["python3", script, path],
            environment: ProcessInfo.processInfo.environment,
            standardOutput: path + ".out",
            standardError: path + ".err"
        )
        await parser.exited()
        let errors = (try? String(contentsOfFile: path + ".err", encoding: .utf8)) ?? ""
        try #require(
            parser.terminationStatus == 0,
            "not valid Prometheus text (or prometheus-client missing: run scripts/setup --test): \(errors)"
        )
        return try String(contentsOfFile: path + ".out", encoding: .utf8).split(separator: "\n").map { line in
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            return Sample(
                name: try #require(object["name"] as? String),
                labels: try #require(object["labels"] as? [String: String]),
                value: try #require(object["value"] as? Double)
            )
        }
    }

    static func value(_ samples: [Sample], _ name: String, _ labels: [String: String] = [:]) -> Double {
        samples.filter { sample in sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value } }.reduce(0) { $0 + $1.value }
    }

    @Test("/metrics is valid Prometheus text and moves with requests; no label holds an id, an account or a path")
    func metricsMove() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            let scrape = { try await client.execute(uri: "/metrics", method: .get) { String(buffer: $0.body) } }
            let before = try await Self.parse(try await scrape())

            let id = "gen-metrics-1"
            #expect(try await client.ingest(generation(id), token: fixture.gateway).0 == .created)
            #expect(try await client.ingest(generation(id), token: fixture.gateway).0 == .ok)
            #expect(try await client.ingest(generation(account: "org_off"), token: fixture.gateway).0 == .accepted)
            let batch = try jsonBuffer(["generations": [try generation().object(), try generation().object(), try generation().object()]])
            try await client.execute(uri: "/v1/generations/batch", method: .post, headers: headers(token: fixture.gateway), body: batch) {
                #expect($0.status == .ok)
            }
            try await client.execute(uri: "/v1/accounts/org_acme/generations/\(id)", method: .get, headers: headers(token: fixture.admin)) {
                #expect($0.status == .ok)
            }
            try await client.execute(uri: "/v1/accounts/org_acme/generations", method: .get, headers: headers(token: fixture.member)) {
                #expect($0.status == .forbidden)
            }
            try await client.execute(uri: "/v1/accounts/org_acme/generations", method: .get, headers: headers(token: nil)) {
                #expect($0.status == .unauthorized)
            }
            try await client.execute(uri: "/no/such/\(UUID().uuidString)", method: .get) { #expect($0.status == .notFound) }

            let text = try await scrape()
            let after = try await Self.parse(text)
            func moved(_ name: String, _ labels: [String: String] = [:]) -> Double {
                Self.value(after, name, labels) - Self.value(before, name, labels)
            }
            #expect(moved("iolog_ingest_generations_total", ["outcome": "stored"]) == 4)
            #expect(moved("iolog_ingest_generations_total", ["outcome": "duplicate"]) == 1)
            #expect(moved("iolog_ingest_generations_total", ["outcome": "skipped", "reason": "not_opted_in"]) == 1)
            #expect(moved("iolog_ingest_batch_size_count") == 4)
            #expect(moved("iolog_ingest_batch_size_sum") == 6)
            #expect(moved("iolog_ingest_commit_duration_seconds_count") >= 1)
            #expect(moved("iolog_http_requests_total", ["route": "/v1/generations", "method": "POST", "status": "201"]) == 1)
            #expect(moved("iolog_http_request_duration_seconds_count", ["route": "/v1/accounts/{account}/generations/{id}"]) == 1)
            #expect(
                moved("iolog_http_requests_total", ["route": "NotFound", "status": "404"]) == 1,
                "\(after.filter { $0.labels["status"] == "404" })"
            )
            #expect(moved("iolog_access_denials_total", ["kind": "not_admin"]) == 1)
            #expect(moved("iolog_access_denials_total", ["kind": "no_token"]) == 1)
            #expect(Self.value(after, "iolog_ingest_queue_depth") == 0)
            #expect(Self.value(after, "iolog_db_connections", ["state": "capacity"]) >= 1)
            #expect(after.contains { $0.name == "iolog_master_key_rotation_in_progress" && $0.value == 0 })
            #expect(after.contains { $0.name == "iolog_deletion_requests" && $0.labels["status"] == "pending" })
            // No label value is an id, an account, a user or a path.
            for sample in after {
                for value in sample.labels.values {
                    #expect(!value.contains("gen-") && !value.contains("org_") && !value.contains("user_") && !value.contains("/no/such"))
                }
            }
            #expect(!text.contains(Fixture.bodyMarker))
        }
    }

    @Test("a sane X-Request-Id is kept, an unsafe one replaced; it is on the request's log lines and in the answer")
    func requestIDs() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        let logs = LogCapture()
        let header = HTTPField.Name("X-Request-Id")!
        try await fixture.withApp(logs: logs) { client in
            var sane = headers(token: fixture.admin)
            sane[header] = "req-abc.123_x:y"
            try await client.execute(uri: "/v1/accounts/org_acme/generations/missing", method: .get, headers: sane) {
                #expect($0.status == .notFound)
                #expect($0.headers[header] == "req-abc.123_x:y")
            }
            for unsafe in ["a b", String(repeating: "x", count: 129), "evil\"}{", "é"] {
                var fields = headers(token: fixture.admin)
                fields[header] = unsafe
                try await client.execute(uri: "/healthz", method: .get, headers: fields) { response in
                    let echoed = try #require(response.headers[header])
                    #expect(echoed != unsafe && !echoed.isEmpty)
                }
            }
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.headers[header]?.isEmpty == false) }
        }
        let request = try #require(logs.objects.first { $0["message"] as? String == "request" && $0["request_id"] as? String == "req-abc.123_x:y" })
        #expect(request["route"] as? String == "/v1/accounts/{account}/generations/{id}")
        #expect(request["status"] as? String == "404")
        #expect(!logs.text.contains("/generations/missing"), "a raw path reached the log")
        #expect(!logs.text.contains("evil"))
    }
}
