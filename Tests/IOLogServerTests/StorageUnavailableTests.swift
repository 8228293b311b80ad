import Foundation
import Hummingbird
import HummingbirdTesting
import IOLogCore
import IOLogTestSupport
import Testing

@testable import IOLogServer

/// A database that cannot be written answers 503 with `Retry-After`, never 500, and the service
/// recovers by itself. SQLite's case, a full file system, is `DiskFullTests` (it needs the
/// `iolog` binary on a tmpfs); here PostgreSQL's: the database turned read-only under the
/// running service, as after a fail-over to a standby.
@Suite("An unwritable database")
struct StorageUnavailableTests {
    @Test(
        "ingest and audited reads answer 503 while PostgreSQL refuses writes; lists go on; writes come back by themselves",
        .enabled(if: TestStorage.isPostgres, "a PostgreSQL database turned read-only")
    )
    func readOnlyDatabase() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        guard case .postgres(let url, _) = fixture.arguments.storage, let server = TestStorage.serverURL else { return }
        let database = String(url.split(separator: "/").last ?? "")
        let admin = PostgresConnectionActor(url: server, name: "test read-only switch")
        defer { Task { await admin.close() } }
        @Sendable func setReadOnly(_ on: Bool) async throws {
            try await admin.run { c in
                try c.executeScript(
                    on
                        ? "ALTER DATABASE \(database) SET default_transaction_read_only = on"
                        : "ALTER DATABASE \(database) RESET default_transaction_read_only"
                )
                // Sessions keep the setting they started with: end them, the pool reconnects.
                _ = try c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", [.text(database)])
            }
        }

        try await fixture.withApp(mode: .live) { client in
            #expect(try await client.ingest(generation("gen-before"), token: fixture.gateway).0 == .created)
            try await setReadOnly(true)
            var statuses: [HTTPResponse.Status] = []
            for index in 0..<5 {
                let answer = try await client.execute(
                    uri: "/v1/generations",
                    method: .post,
                    headers: headers(token: fixture.gateway),
                    body: generation("gen-during-\(index)").buffer
                ) { $0 }
                statuses.append(answer.status)
                if answer.status == .serviceUnavailable {
                    #expect(answer.headers[.retryAfter] == "5")
                    #expect(try (jsonObject(answer)["error"] as? [String: Any])?["code"] as? String == "unavailable")
                }
            }
            #expect(statuses.allSatisfy { $0 == .serviceUnavailable }, "\(statuses)")
            // Reads that write nothing go on; a content read cannot be audited, so it is refused.
            let list = try await client.execute(
                uri: "/v1/accounts/org_acme/generations",
                method: .get,
                headers: headers(token: fixture.admin, contentType: nil)
            ) { $0 }
            #expect(list.status == .ok)
            #expect(String(buffer: list.body).contains("gen-before"))
            let detail = try await client.execute(
                uri: "/v1/accounts/org_acme/generations/gen-before",
                method: .get,
                headers: headers(token: fixture.admin, contentType: nil)
            ) { $0 }
            #expect(detail.status == .serviceUnavailable)
            #expect(!String(buffer: detail.body).contains(Fixture.bodyMarker))
            #expect(try await client.execute(uri: "/healthz", method: .get) { $0.status } == .ok)

            try await setReadOnly(false)
            var recovered = false
            for index in 0..<50 where !recovered {
                recovered = try await client.ingest(generation("gen-after-\(index)"), token: fixture.gateway).0 == .created
                if !recovered { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(recovered)
            let reread = try await client.execute(
                uri: "/v1/accounts/org_acme/generations/gen-before",
                method: .get,
                headers: headers(token: fixture.admin, contentType: nil)
            ) { $0 }
            #expect(reread.status == .ok)
        }
        let stored = try await fixture.sql("SELECT id FROM generations WHERE id LIKE 'gen-during-%'")
        #expect(stored.isEmpty, "a refused generation was stored: \(stored)")
    }
}
