import Foundation
import Hummingbird
import HummingbirdTesting
import IOLogCore
import IOLogServer
import Testing

@Suite("Deletion requests through the admin API")
struct DeletionAPITests {
    private func call(
        _ client: some TestClientProtocol,
        _ method: HTTPRequest.Method,
        _ uri: String,
        token: String,
        body: Any? = nil
    ) async throws
        -> (HTTPResponse.Status, [String: Any])
    {
        try await client.execute(
            uri: uri,
            method: method,
            headers: headers(token: token, contentType: body == nil ? nil : "application/json"),
            body: try body.map(jsonBuffer)
        ) { ($0.status, (try? jsonObject($0)) ?? [:]) }
    }

    @Test("an admin files a request, support runs it while the server runs, the API then answers 404 and shows the receipt")
    func fileRunAndFollow() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            let ids = (0..<5).map { "gen-del-\($0)" }
            for id in ids { #expect(try await client.ingest(generation(id), token: fixture.gateway).0 == .created) }
            #expect(try await client.ingest(generation("gen-other", account: "org_other"), token: fixture.gateway).0 == .created)

            // Refusals: bad bodies name the field; members and outsiders are refused like any admin endpoint.
            let uri = "/v1/accounts/org_acme/deletion-requests"
            for (body, field) in [
                (["generation_ids": "gen-1"], "generation_ids"), (["generation_ids": [] as [String]], "generation_ids"),
                (["generation_ids": ["bad id!"]], "generation_ids"), (["before": "yesterday"], "before"),
                (["before": "2026-11-01T00:00:00Z", "generation_ids": ["a"]], "before"), (["ticket": 5], "ticket"),
                (["ticket": "line\nbreak"], "ticket"), (["scope": "all"], "scope"), (["user_id": "a b"], "user_id"),
                (["user_id": 7], "user_id"), (["user_id": "u", "before": "2026-11-01T00:00:00Z"], "user_id"),
            ] as [([String: Any], String)] {
                let (status, answer) = try await call(client, .post, uri, token: fixture.admin, body: body)
                #expect(status == .badRequest, "\(body)")
                #expect((answer["error"] as? [String: Any])?["field"] as? String == field, "\(body)")
            }
            #expect(try await call(client, .post, uri, token: fixture.member, body: [:]).0 == .forbidden)
            #expect(try await call(client, .post, uri, token: fixture.outsider, body: [:]).0 == .notFound)
            #expect(try await call(client, .get, uri, token: fixture.otherAdmin).0 == .notFound)

            let (status, filed) = try await call(
                client,
                .post,
                uri,
                token: fixture.admin,
                body: ["ticket": "SUP-42", "generation_ids": Array(ids.prefix(3))]
            )
            #expect(status == .created)
            #expect(filed["status"] as? String == "pending")
            #expect(filed["requested_by"] as? String == "alice")
            #expect(filed["rows_erased"] as? Int == 0)
            let requestID = try #require(filed["id"] as? String)

            // Support runs it with the server up, as `iolog deletion run` does.
            try await fixture.withEngine { engine in
                let receipt = try await DeletionService(store: engine.store, keys: engine.keys, clock: .system).run(
                    id: requestID,
                    runBy: "cli:support"
                )
                #expect(receipt.rowsErased == 3)
            }
            for id in ids.prefix(3) {
                #expect(try await call(client, .get, "/v1/accounts/org_acme/generations/\(id)", token: fixture.admin).0 == .notFound)
            }
            #expect(try await call(client, .get, "/v1/accounts/org_acme/generations/\(ids[4])", token: fixture.admin).0 == .ok)

            // Whole account: keys first; the remaining rows and a later generation.
            let (_, whole) = try await call(client, .post, uri, token: fixture.admin, body: [:])
            let wholeID = try #require(whole["id"] as? String)
            #expect((whole["scope"] as? [String: Any])?["kind"] as? String == "account")
            try await fixture.withEngine { engine in
                _ = try await DeletionService(store: engine.store, keys: engine.keys, clock: .system).run(id: wholeID, runBy: "cli:support")
            }
            #expect(try await call(client, .get, "/v1/accounts/org_acme/generations/\(ids[4])", token: fixture.admin).0 == .notFound)
            #expect(try await call(client, .get, "/v1/accounts/org_other/generations/gen-other", token: fixture.otherAdmin).0 == .ok)
            // Still opted in: a generation made after the request gets a fresh key and reads back;
            // one made before it but delivered late is refused, not stored under the fresh key.
            let (late, lateBody) = try await client.ingest(generation("gen-late"), token: fixture.gateway)
            #expect(late == .accepted)
            #expect(lateBody["reason"] as? String == "before_opt_in")
            #expect(try await call(client, .get, "/v1/accounts/org_acme/generations/gen-late", token: fixture.admin).0 == .notFound)
            #expect(
                try await client.ingest(generation("gen-after", ["created_at": "2026-11-22T12:01:00Z"]), token: fixture.gateway).0 == .created
            )
            #expect(try await call(client, .get, "/v1/accounts/org_acme/generations/gen-after", token: fixture.admin).0 == .ok)

            let (listed, list) = try await call(client, .get, uri, token: fixture.admin)
            #expect(listed == .ok)
            let receipts = try #require(list["data"] as? [[String: Any]])
            #expect(receipts.map { $0["id"] as? String } == [wholeID, requestID])
            #expect(receipts.map { $0["status"] as? String } == ["completed", "completed"])
            #expect(receipts.map { $0["rows_erased"] as? Int } == [2, 3])
            #expect(receipts.map { $0["keys_destroyed"] as? Int } == [1, 0])
            #expect(receipts[0]["run_by"] as? String == "cli:support")
            #expect(receipts[0]["keys_destroyed_at"] is String)

            let (_, trail) = try await call(client, .get, "/v1/accounts/org_acme/audit-events?limit=200", token: fixture.admin)
            let actions = (trail["data"] as? [[String: Any]] ?? []).compactMap { $0["action"] as? String }
            #expect(actions.filter { $0 == "deletion.request" }.count == 2)
            #expect(actions.filter { $0 == "deletion.complete" }.count == 2)
        }
    }

    @Test("an admin asks for one end user's generations to be erased; a late one of theirs is never stored")
    func endUserErasure() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            for (id, user) in [("gen-u1-a", "user_1"), ("gen-u1-b", "user_1"), ("gen-u2", "user_2")] {
                #expect(try await client.ingest(generation(id, ["user_id": user]), token: fixture.gateway).0 == .created)
            }
            let uri = "/v1/accounts/org_acme/deletion-requests"
            let (status, filed) = try await call(client, .post, uri, token: fixture.admin, body: ["user_id": "user_1", "ticket": "GDPR-7"])
            #expect(status == .created)
            #expect(filed["scope"] as? [String: Any] as NSDictionary? == ["kind": "user", "user_id": "user_1"] as NSDictionary)
            let requestID = try #require(filed["id"] as? String)
            try await fixture.withEngine { engine in
                let receipt = try await DeletionService(store: engine.store, keys: engine.keys, clock: .system).run(
                    id: requestID,
                    runBy: "cli:support"
                )
                #expect(receipt.rowsErased == 2)
                #expect(receipt.keysDestroyed == 0)
            }
            for id in ["gen-u1-a", "gen-u1-b"] {
                #expect(try await call(client, .get, "/v1/accounts/org_acme/generations/\(id)", token: fixture.admin).0 == .notFound)
            }
            #expect(try await call(client, .get, "/v1/accounts/org_acme/generations/gen-u2", token: fixture.admin).0 == .ok)
            let (late, lateBody) = try await client.ingest(generation("gen-u1-late", ["user_id": "user_1"]), token: fixture.gateway)
            #expect(late == .accepted)
            #expect(lateBody["reason"] as? String == "before_opt_in")
            let (_, list) = try await call(client, .get, "/v1/accounts/org_acme/generations?user_id=user_1", token: fixture.admin)
            #expect((list["data"] as? [[String: Any]])?.isEmpty == true)
        }
    }

    @Test("serve runs the retention purge by itself")
    func periodicPurge() async throws {
        let fixture = try await Fixture { arguments in arguments.retentionInterval = .milliseconds(50) }
        defer { fixture.remove() }
        try await fixture.withApp { client in
            // Old enough only relative to a clock four months on: insert directly, as if stored long ago.
            #expect(try await client.ingest(generation("gen-new"), token: fixture.gateway).0 == .created)
            try await fixture.sql("UPDATE generations SET created_at = created_at - \(100 * 86_400_000_000 as Int64) WHERE id = 'gen-new'")
            var gone = false
            for _ in 0..<100 where !gone {
                try await Task.sleep(for: .milliseconds(50))
                gone =
                    try await client.execute(
                        uri: "/v1/accounts/org_acme/generations/gen-new",
                        method: .get,
                        headers: headers(token: fixture.admin, contentType: nil)
                    ) {
                        $0.status
                    } == .notFound
            }
            #expect(gone)
        }
        let purges = try await fixture.sql("SELECT actor FROM audit_events WHERE action = 'retention.purge'").map { $0[0] }
        #expect(purges == ["serve:retention"])
    }
}
