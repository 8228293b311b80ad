import Foundation
import Hummingbird
import HummingbirdTesting
import IOLogCore
import IOLogServer
import Synchronization
import Testing

/// GET with the admin's token; returns status and parsed JSON.
private func get(_ client: some TestClientProtocol, _ uri: String, token: String) async throws -> (HTTPResponse.Status, [String: Any]) {
    try await client.execute(uri: uri, method: .get, headers: headers(token: token, contentType: nil)) {
        ($0.status, (try? jsonObject($0)) ?? [:])
    }
}

/// True if two JSON values are equal as JSON (key order and number spelling aside).
private func sameJSON(_ lhs: Any?, _ rhs: Any?) -> Bool {
    guard let lhs, let rhs else { return lhs == nil && rhs == nil }
    return NSDictionary(dictionary: ["v": lhs]).isEqual(to: ["v": rhs])
}

@Suite("Admin read path")
struct ReadPathTests {
    @Test func detailGivesBackExactlyWhatWasIngested() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        let prompt: [Any] = [
            ["role": "system", "content": "Answer in French."],
            ["role": "user", "content": ["type": "text", "text": "Bonjour <b>&</b> \"quotes\" 🚀"]],
        ]
        let completion: [String: Any] = ["role": "assistant", "content": "Salut", "tool_calls": [], "n": 1.5, "big": 12_345_678_901]
        let reasoning: [String: Any] = ["steps": ["a", "b"], "empty": NSNull()]
        let body = generation("gen-detail", ["prompt": prompt, "completion": completion, "reasoning": reasoning])
        let expected = try (Payload(prompt), Payload(completion), Payload(reasoning))
        let plain = generation("gen-plain", ["prompt": "hi", "completion": "there", "user_id": NSNull(), "usage": NSNull()])
        try await fixture.withApp { client in
            #expect(try await client.ingest(body, token: fixture.gateway).0 == .created)
            #expect(try await client.ingest(plain, token: fixture.gateway).0 == .created)
            let (status, detail) = try await get(client, "/v1/accounts/org_acme/generations/gen-detail", token: fixture.admin)
            #expect(status == .ok)
            let (prompt, completion, reasoning) = try (expected.0.object(), expected.1.object(), expected.2.object())
            #expect(sameJSON(detail["prompt"], prompt))
            #expect(sameJSON(detail["completion"], completion))
            #expect(sameJSON(detail["reasoning"], reasoning))
            #expect(detail["model"] as? String == "openai/gpt-4o")
            #expect(detail["created_at"] as? String == "2026-11-22T07:00:00.123000Z")
            #expect(sameJSON(detail["usage"], ["prompt_tokens": 1200, "completion_tokens": 350]))
            #expect(detail["has_reasoning"] as? Bool == true)

            let (_, second) = try await get(client, "/v1/accounts/org_acme/generations/gen-plain", token: fixture.admin)
            #expect(second["reasoning"] is NSNull)
            #expect(second["user_id"] is NSNull)
            #expect(sameJSON(second["prompt"], "hi"))

            // Another account's generation, and unknown ids, are the same 404.
            #expect(try await client.ingest(generation("gen-other", account: "org_other"), token: fixture.gateway).0 == .created)
            for id in ["gen-other", "gen-missing", "bad%20id"] {
                #expect(try await get(client, "/v1/accounts/org_acme/generations/\(id)", token: fixture.admin).0 == .notFound)
            }
        }
    }

    @Test func aTamperedBodyIsAClearErrorNamingTheGeneration() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        let logs = LogCapture()
        try await fixture.withApp(logs: logs) { client in
            let (status, _) = try await client.ingest(generation("gen-tamper", ["completion": "TAMPER-MARKER-1"]), token: fixture.gateway)
            #expect(status == .created)
        }
        try await fixture.sql("UPDATE generations SET completion_sealed = prompt_sealed WHERE id = 'gen-tamper'")
        try await fixture.withApp(logs: logs) { client in
            let (status, body) = try await get(client, "/v1/accounts/org_acme/generations/gen-tamper", token: fixture.admin)
            #expect(status == .internalServerError)
            let error = body["error"] as? [String: Any]
            #expect(error?["code"] as? String == "content_unavailable")
            #expect((error?["message"] as? String)?.contains("gen-tamper") == true)
            #expect((error?["message"] as? String)?.contains("completion") == true)
        }
        #expect(logs.text.contains("gen-tamper"))
        #expect(!logs.text.contains("TAMPER-MARKER-1"))
        // The error line carries the request's id, the same as the request line after it.
        let failure = try #require(logs.objects.first { $0["message"] as? String == "stored content unavailable" })
        let id = try #require(failure["request_id"] as? String)
        #expect(
            logs.objects.contains { $0["message"] as? String == "request" && $0["request_id"] as? String == id && $0["status"] as? String == "500" }
        )
    }

    @Test func listFiltersNewestFirstAndRejectsBadParameters() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            let rows: [(String, String, String, String, String)] = [
                ("gen-1", "openai/gpt-4o", "OpenAI", "u1", "2026-11-20T10:00:00Z"),
                ("gen-2", "anthropic/claude", "Anthropic", "u2", "2026-11-21T10:00:00Z"),
                ("gen-3", "openai/gpt-4o", "Azure", "u1", "2026-11-22T10:00:00Z"),
            ]
            let items = rows.map { id, model, provider, user, created in
                var fields: [String: Any] = ["model": model, "provider": provider, "user_id": user, "created_at": created]
                if id != "gen-2" { fields["session_id"] = "chat-a" }
                return generation(id, fields)
            }
            #expect(
                try await client.execute(
                    uri: "/v1/generations/batch",
                    method: .post,
                    headers: headers(token: fixture.gateway),
                    body: Payload.batch(items).buffer
                ) { $0.status } == .ok
            )
            let ids = { (query: String) async throws -> [String] in
                let (status, body) = try await get(client, "/v1/accounts/org_acme/generations\(query)", token: fixture.admin)
                #expect(status == .ok, "\(query)")
                #expect(body["next_cursor"] is NSNull, "\(query)")
                let data = body["data"] as? [[String: Any]] ?? []
                #expect(data.allSatisfy { $0["prompt"] == nil && $0["completion"] == nil }, "the list must not carry bodies")
                return data.compactMap { $0["id"] as? String }
            }
            #expect(try await ids("") == ["gen-3", "gen-2", "gen-1"])
            #expect(try await ids("?model=openai/gpt-4o") == ["gen-3", "gen-1"])
            #expect(try await ids("?provider=Anthropic") == ["gen-2"])
            #expect(try await ids("?user_id=u1&model=openai%2Fgpt-4o") == ["gen-3", "gen-1"])
            #expect(try await ids("?from=2026-11-21T00:00:00Z") == ["gen-3", "gen-2"])
            #expect(try await ids("?to=2026-11-21T10:00:00Z") == ["gen-1"])
            #expect(try await ids("?model=&provider=&user_id=") == ["gen-3", "gen-2", "gen-1"])
            #expect(try await ids("?model=none") == [])
            #expect(try await ids("?session_id=chat-a") == ["gen-3", "gen-1"])
            #expect(try await ids("?session_id=chat-a&provider=Azure") == ["gen-3"])
            let (_, listed) = try await get(client, "/v1/accounts/org_acme/generations", token: fixture.admin)
            #expect((listed["data"] as? [[String: Any]])?.map { $0["session_id"] as? String } == ["chat-a", nil, "chat-a"])
            let (_, detail) = try await get(client, "/v1/accounts/org_acme/generations/gen-1", token: fixture.admin)
            #expect(detail["session_id"] as? String == "chat-a")
            // The session is part of the content a retry must repeat: the same is a duplicate,
            // another session under the id a conflict.
            #expect(try await client.ingest(items[0], token: fixture.gateway).0 == .ok)
            let first = rows[0]
            let moved = generation(
                "gen-1",
                [
                    "model": first.1, "provider": first.2, "user_id": first.3, "created_at": first.4, "session_id": "chat-b",
                ]
            )
            #expect(try await client.ingest(moved, token: fixture.gateway).0 == .conflict)

            for (query, field) in [
                ("limit=0", "limit"), ("limit=201", "limit"), ("limit=ten", "limit"), ("from=yesterday", "from"),
                ("to=2026-13-01T00:00:00Z", "to"), ("from=2026-11-22T00:00:00Z&to=2026-11-21T00:00:00Z", "to"),
                ("cursor=nonsense", "cursor"), ("user_id=a%20b", "user_id"), ("session_id=a%2Fb", "session_id"),
            ] {
                let (status, body) = try await get(client, "/v1/accounts/org_acme/generations?\(query)", token: fixture.admin)
                #expect(status == .badRequest, "\(query)")
                #expect((body["error"] as? [String: Any])?["field"] as? String == field, "\(query)")
            }
        }
    }

    /// 1,000 generations with one timestamp, read in pages of 7 while new ones keep arriving
    /// (with the same timestamp): every old one is seen exactly once.
    @Test func paginationIsStableWhileGenerationsArrive() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        let created = "2026-11-22T08:00:00Z"
        try await fixture.withApp { client in
            let old = (0..<1000).map { String(format: "gen-old-%04d", $0) }
            let batch = Payload.batch(old.map { generation($0, ["created_at": created]) })
            #expect(
                try await client.execute(uri: "/v1/generations/batch", method: .post, headers: headers(token: fixture.gateway), body: batch.buffer) {
                    $0.status
                } == .ok
            )
            var seen: [String: Int] = [:]
            var cursor: String?
            var pages = 0
            repeat {
                let query = "?limit=7" + (cursor.map { "&cursor=\($0)" } ?? "")
                let (status, body) = try await get(client, "/v1/accounts/org_acme/generations\(query)", token: fixture.admin)
                #expect(status == .ok)
                for item in body["data"] as? [[String: Any]] ?? [] { seen[item["id"] as! String, default: 0] += 1 }
                cursor = body["next_cursor"] as? String
                pages += 1
                // Arrivals between page fetches: same timestamp, ids sorting before and after the old ones.
                for prefix in ["gen-new-a", "gen-new-z"] {
                    #expect(try await client.ingest(generation("\(prefix)-\(pages)", ["created_at": created]), token: fixture.gateway).0 == .created)
                }
            } while cursor != nil && pages < 1000
            #expect(pages >= 143)
            for id in old { #expect(seen[id] == 1, "\(id) seen \(seen[id] ?? 0) times") }
            #expect(seen.values.allSatisfy { $0 == 1 })
        }
    }

    @Test func exportStreamsJSONLinesAndIsAudited() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            let items = (0..<450).map { index in
                generation(String(format: "gen-exp-%03d", index), ["model": index % 3 == 0 ? "m/three" : "m/other", "prompt": "prompt \(index)"])
            }
            #expect(
                try await client.execute(
                    uri: "/v1/generations/batch",
                    method: .post,
                    headers: headers(token: fixture.gateway),
                    body: Payload.batch(items).buffer
                ) { $0.status } == .ok
            )
            for (query, expectedCount) in [("", 450), ("?model=m/three", 150)] {
                try await client.execute(
                    uri: "/v1/accounts/org_acme/export\(query)",
                    method: .get,
                    headers: headers(token: fixture.admin, contentType: nil)
                ) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.contentType]?.hasPrefix("application/x-ndjson") == true)
                    let lines = String(buffer: response.body).split(separator: "\n")
                    #expect(lines.count == expectedCount)
                    let objects = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                    #expect(objects.count == expectedCount)
                    #expect(Set(objects.compactMap { $0["id"] as? String }).count == expectedCount)
                    #expect(objects.allSatisfy { ($0["prompt"] as? String)?.hasPrefix("prompt ") == true })
                }
            }
            let (_, audit) = try await get(client, "/v1/accounts/org_acme/audit-events?limit=10", token: fixture.admin)
            let events = audit["data"] as? [[String: Any]] ?? []
            // Each export is audited when it starts (before its first byte) and when it ends.
            let starts = events.filter { $0["action"] as? String == "generation.export" }.compactMap { $0["detail"] as? [String: Any] }
            let ends = events.filter { $0["action"] as? String == "generation.export.end" }.compactMap { $0["detail"] as? [String: Any] }
            #expect(starts.count == 2 && ends.count == 2)
            #expect(starts.allSatisfy { $0["rows"] == nil && ($0["token_id"] as? String)?.hasPrefix("usr-") == true })
            #expect(ends.contains { $0["rows"] as? Int == 150 && ($0["filter"] as? [String: Any])?["model"] as? String == "m/three" })
            #expect(ends.contains { $0["rows"] as? Int == 450 && $0["complete"] as? Bool == true })
        }
    }

    @Test func auditTrailRecordsReadsTogglesAndRefusals() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            #expect(try await client.ingest(generation("gen-audited"), token: fixture.gateway).0 == .created)
            #expect(try await get(client, "/v1/accounts/org_acme/generations/gen-audited", token: fixture.admin).0 == .ok)
            #expect(try await get(client, "/v1/accounts/org_acme/generations/gen-audited", token: fixture.member).0 == .forbidden)
            #expect(try await get(client, "/v1/accounts/org_acme/export", token: fixture.outsider).0 == .notFound)
            // Refusals reach the trail off the request path (DenialQueue): both are written
            // before the toggle, so the trail's order is the order of the requests.
            for _ in 0..<100 {
                let (_, recent) = try await get(client, "/v1/accounts/org_acme/audit-events?limit=10", token: fixture.admin)
                let denied = (recent["data"] as? [[String: Any]] ?? []).filter { $0["action"] as? String == "access.denied" }
                if denied.count >= 2 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            let toggle = try await client.execute(
                uri: "/v1/accounts/org_acme/settings/io-logging",
                method: .put,
                headers: headers(token: fixture.admin),
                body: ByteBuffer(string: #"{"enabled":false}"#)
            ) { $0.status }
            #expect(toggle == .ok)
            // Another account's admin sees none of it.
            let (_, other) = try await get(client, "/v1/accounts/org_other/audit-events", token: fixture.otherAdmin)
            let otherActions = (other["data"] as? [[String: Any]] ?? []).compactMap { $0["action"] as? String }
            #expect(!otherActions.isEmpty && otherActions.allSatisfy { ["account.upsert", "membership.set", "token.create"].contains($0) })

            var actions: [String] = []
            var cursor: String?
            repeat {
                let (status, page) = try await get(
                    client,
                    "/v1/accounts/org_acme/audit-events?limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""),
                    token: fixture.admin
                )
                #expect(status == .ok)
                for event in page["data"] as? [[String: Any]] ?? [] {
                    actions.append(event["action"] as! String)
                    #expect(event["account_id"] as? String == "org_acme")
                }
                cursor = page["next_cursor"] as? String
            } while cursor != nil
            // Newest first; before them, the fixture's own setup (accounts, memberships, tokens).
            #expect(Array(actions.prefix(4)) == ["io_logging.disable", "access.denied", "access.denied", "generation.read"])
            #expect(actions.dropFirst(4).allSatisfy { ["account.upsert", "membership.set", "token.create"].contains($0) })
            #expect(try await get(client, "/v1/accounts/org_acme/audit-events?cursor=x", token: fixture.admin).0 == .badRequest)
        }
        let verification = try await fixture.withStore { store in try await store.verifyAuditChain() }
        guard case .intact(let rows, _) = verification else {
            Issue.record("chain broken: \(verification)")
            return
        }
        #expect(rows >= 4)
    }
}
