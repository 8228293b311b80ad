import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IOLogCore
import Logging
import Testing

@testable import IOLogServer

/// Regression tests for the security review's findings at the HTTP edge (issue 10). Every test
/// runs through `Fixture.withApp`, which also fails it if a body marker or a token secret
/// reaches the log.
@Suite("Security review: server")
struct SecurityReviewServerTests {
    private static func nested(_ depth: Int, _ leaf: String) -> String {
        String(repeating: "[", count: depth) + "\"\(leaf)\"" + String(repeating: "]", count: depth)
    }

    /// A generation as raw JSON text, for bodies `JSONSerialization` would not write (deep
    /// nesting, duplicate keys, exact numbers).
    private static func rawGeneration(_ id: String, prompt: String = "\"hi\"", extra: String = "") -> ByteBuffer {
        ByteBuffer(
            string: """
                {"id":"\(id)","account_id":"org_acme","created_at":"2026-11-22T07:00:00Z","model":"m","provider":"p",\
                "prompt":\(prompt),"completion":"\(Fixture.bodyMarker)"\(extra)}
                """
        )
    }

    private func post(
        _ client: some TestClientProtocol,
        _ body: ByteBuffer,
        token: String,
        uri: String = "/v1/generations"
    )
        async throws -> (HTTPResponse.Status, [String: Any])
    {
        try await client.execute(uri: uri, method: .post, headers: headers(token: token), body: body) {
            ($0.status, (try? jsonObject($0)) ?? [:])
        }
    }

    @Test("reasoning nested 511 deep is refused at ingest, naming the field; what is accepted reads back; nothing reaches the log")
    func deepBodiesAreBoundedAndNeverLogged() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            let deep = Self.rawGeneration("gen-deep", extra: #","reasoning":"# + Self.nested(511, Fixture.bodyMarker))
            let (status, answer) = try await post(client, deep, token: fixture.gateway)
            #expect(status == .badRequest)
            #expect((answer["error"] as? [String: Any])?["field"] as? String == "reasoning")
            // Within the parser's limit but past the content limit: the same answer, per item in a batch.
            let over = Self.rawGeneration("gen-101", extra: #","reasoning":"# + Self.nested(101, Fixture.bodyMarker))
            #expect(try await post(client, over, token: fixture.gateway).0 == .badRequest)
            let batch = ByteBuffer(string: #"{"generations":["# + String(buffer: over) + "]}")
            let (_, results) = try await post(client, batch, token: fixture.gateway, uri: "/v1/generations/batch")
            let item = (results["results"] as? [[String: Any]])?.first
            #expect((item?["error"] as? [String: Any])?["field"] as? String == "reasoning")

            let deepest = Self.rawGeneration("gen-100", extra: #","reasoning":"# + Self.nested(100, Fixture.bodyMarker))
            #expect(try await post(client, deepest, token: fixture.gateway).0 == .created)
            let read = try await client.execute(
                uri: "/v1/accounts/org_acme/generations/gen-100",
                method: .get,
                headers: headers(token: fixture.admin, contentType: nil)
            ) { ($0.status, String(buffer: $0.body)) }
            #expect(read.0 == .ok)
            #expect(read.1.contains(Self.nested(100, Fixture.bodyMarker)))
            // A different body under the same id is a conflict, not a "duplicate".
            let other = Self.rawGeneration("gen-100", extra: #","reasoning":"# + Self.nested(100, "other"))
            #expect(try await post(client, other, token: fixture.gateway).0 == .conflict)
        }
    }

    @Test("an unexpected error is logged by type and code, never by its description")
    func errorDescriptionsStayOutOfTheLog() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        let logs = LogCapture()
        let services = try await AppServices.open(fixture.arguments)
        let router = buildRouter(services, logger: logs.logger())
        router.get("/boom") { _, _ -> String in
            throw EncodingError.invalidValue(Fixture.bodyMarker, .init(codingPath: [], debugDescription: Fixture.bodyMarker))
        }
        try await Application(router: router, services: [services], logger: logs.logger()).test(.router) { client in
            let (status, body) = try await client.execute(uri: "/boom", method: .get) { ($0.status, String(buffer: $0.body)) }
            #expect(status == .internalServerError)
            #expect(!body.contains(Fixture.bodyMarker))
        }
        #expect(logs.text.contains("EncodingError"))
        fixture.expectNoSecrets(in: logs.text)
        let metadata = Logger.Metadata.describing(IOLogError(.corrupted, "x"))
        #expect(metadata["error_code"] != nil)
    }

    @Test("duplicate keys are refused, numbers come back exactly, the value count is bounded")
    func strictJSON() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            let twice = Self.rawGeneration("gen-dup", extra: #","routing":{"region":"global","region":"eu"}"#)
            let (status, answer) = try await post(client, twice, token: fixture.gateway)
            #expect(status == .badRequest)
            #expect((answer["error"] as? [String: Any])?["field"] as? String == "routing")

            let numbers = "[12345678901234567890,0.1000000000000000055511151231257827,1E+2,-0]"
            #expect(try await post(client, Self.rawGeneration("gen-num", prompt: numbers), token: fixture.gateway).0 == .created)
            let text = try await client.execute(
                uri: "/v1/accounts/org_acme/generations/gen-num",
                method: .get,
                headers: headers(token: fixture.admin, contentType: nil)
            ) { String(buffer: $0.body) }
            #expect(text.contains(#""prompt":"# + numbers))

            let many = "[" + Array(repeating: "0", count: JSONParser.Limits.request.values).joined(separator: ",") + "]"
            let (tooMany, error) = try await post(client, Self.rawGeneration("gen-many", prompt: many), token: fixture.gateway)
            #expect(tooMany == .badRequest)
            #expect((error["error"] as? [String: Any])?["message"] as? String == "the body holds more than 1000000 JSON values")
        }
    }

    @Test("a body past the limit is 413, and error answers carry the security headers")
    func limitsAndHeadersOnErrors() async throws {
        let fixture = try await Fixture { $0.maximumBodyBytes = 1024 }
        defer { fixture.remove() }
        try await fixture.withApp { client in
            // Over the limit as collected (a chunked body over a real socket is in SlowClientTests).
            let (status, answer) = try await client.execute(
                uri: "/v1/generations",
                method: .post,
                headers: headers(token: fixture.gateway),
                body: ByteBuffer(string: #"{"prompt":""# + String(repeating: "x", count: 4096) + #""}"#)
            ) { ($0.status, (try? jsonObject($0)) ?? [:]) }
            #expect(status == .contentTooLarge)
            #expect((answer["error"] as? [String: Any])?["code"] as? String == "payload_too_large")

            for (uri, token) in [("/v1/generations", nil), ("/v1/nowhere", fixture.admin), ("/v1/accounts/org_acme/generations/x", fixture.member)] {
                try await client.execute(uri: uri, method: .get, headers: headers(token: token, contentType: nil)) { response in
                    #expect(response.status.code >= 400, "\(uri)")
                    #expect(response.headers[.contentSecurityPolicy]?.contains("default-src 'none'") == true, "\(uri)")
                    #expect(response.headers[.xContentTypeOptions] == "nosniff", "\(uri)")
                    #expect(response.headers[HTTPField.Name("X-Frame-Options")!] == "DENY", "\(uri)")
                    #expect(response.headers[.cacheControl] == "no-store", "\(uri)")
                }
            }
            #expect(try await client.ingest(generation("gen-cache"), token: fixture.gateway).0 == .created)
            for uri in ["/v1/accounts/org_acme/generations/gen-cache", "/v1/accounts/org_acme/export"] {
                try await client.execute(uri: uri, method: .get, headers: headers(token: fixture.admin, contentType: nil)) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.cacheControl] == "no-store", "\(uri)")
                }
            }
        }
    }

    @Test("an export that fails midway ends the transfer abnormally and is audited as failed, after being audited at its start")
    func failedExportIsVisible() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp(mode: .live) { client in
            for index in 0..<3 {
                #expect(try await client.ingest(generation("gen-export-\(index)"), token: fixture.gateway).0 == .created)
            }
            try await fixture.sql("UPDATE generations SET completion_sealed = prompt_sealed WHERE id = 'gen-export-1'")
            let error = await #expect(throws: (any Error).self) {
                try await client.execute(
                    uri: "/v1/accounts/org_acme/export",
                    method: .get,
                    headers: headers(token: fixture.admin, contentType: nil)
                ) { response in
                    // Reaching here means the transfer ended normally: that is the bug.
                    Issue.record("export ended normally with \(response.status) and \(response.body.readableBytes) bytes")
                }
            }
            // The client giving up on a silent server is not the abnormal end this is about.
            #expect((error as? TestClient.Error).map { "\($0)" } != "readTimeout", "the export never answered")
        }
        let events = try await fixture.withStore { store in
            try await store.auditEvents(accountID: "org_acme", actions: ["generation.export", "generation.export.end"], before: nil, limit: 10)
        }
        #expect(events.map(\.event.action) == ["generation.export.end", "generation.export"])
        #expect(events.first?.event.detail?.contains(#""complete":false"#) == true)
    }

    @Test("a refusal stores the route, never the raw path; unknown accounts get no trail; repeats are coalesced")
    func denialsAreBoundedAndCoalesced() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            let long = String(repeating: "A", count: 70_000)
            for uri in ["/v1/accounts/org_acme/generations/\(long)", "/v1/accounts/org_acme/generations/gen-ok", "/v1/accounts/org_ghost/export"] {
                _ = try await client.execute(uri: uri, method: .get, headers: headers(token: fixture.member, contentType: nil)) { $0.status }
            }
            for _ in 0..<300 {
                _ = try await client.execute(
                    uri: "/v1/accounts/org_acme/export",
                    method: .get,
                    headers: headers(token: fixture.outsider, contentType: nil)
                ) { $0.status }
            }
        }
        let denied = try await fixture.withStore { store in
            try await store.auditEvents(accountID: "org_acme", actions: ["access.denied"], before: nil, limit: 50)
        }
        // Per caller: the first refusal at once, the rest of the minute as one count at shutdown.
        #expect(denied.count == 4)
        #expect(denied.filter { $0.event.actor.contains("bob") }.map { refusals($0) }.reduce(0, +) == 2)
        #expect(denied.filter { $0.event.actor.contains("mallory") }.map { refusals($0) }.sorted() == [1, 299])
        #expect(denied.allSatisfy { ($0.event.detail?.utf8.count ?? 0) < 300 && !($0.event.detail ?? "").contains("AAAA") })
        #expect(denied.contains { $0.event.detail?.contains(#""route":"GET /v1/accounts/{account}/generations/{id}""#) == true })
        #expect(try await fixture.withStore { store in try await store.account(id: "org_ghost") } == nil)
        let ghost = try await fixture.withStore { store in
            try await store.auditEvents(accountID: "org_ghost", actions: nil, before: nil, limit: 5)
        }
        #expect(ghost.isEmpty)
    }

    @Test("support staff making themselves admin, or making a token for the admin, is in the account's access history")
    func operatorAccessIsVisible() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        let (eve, minted, early) = try await fixture.withStore { store in
            try await AccountDirectory(store: store).setRole(accountID: "org_acme", userID: "eve", role: .admin, actor: "cli:root")
            let tokens = TokenService(store: store)
            return (
                try await tokens.create(kind: .user, userID: "eve", actor: "cli:root"),
                try await tokens.create(kind: .user, userID: "alice", actor: "cli:root"),
                // Made while zed belongs to no account: its event is in no account's trail yet.
                try await tokens.create(kind: .user, userID: "zed", actor: "cli:root")
            )
        }
        try await fixture.withApp { client in
            let promoted = try await client.execute(
                uri: "/v1/accounts/org_acme/members/zed",
                method: .put,
                headers: headers(token: fixture.platform),
                body: ByteBuffer(string: #"{"role":"admin"}"#)
            ) { $0.status }
            #expect(promoted == .ok)
            #expect(try await client.ingest(generation("gen-seen"), token: fixture.gateway).0 == .created)
            for token in [eve.token, minted.token, fixture.admin] {
                let status = try await client.execute(
                    uri: "/v1/accounts/org_acme/generations/gen-seen",
                    method: .get,
                    headers: headers(token: token, contentType: nil)
                ) { $0.status }
                #expect(status == .ok)
            }
            var browser = PagesTests.Browser(client: client)
            _ = try await browser.login(fixture.admin)
            let (status, _, page) = try await browser.get("/accounts/org_acme/settings")
            #expect(status == .ok)
            #expect(page.contains("Access history"))
            #expect(page.contains("eve became an admin"))
            #expect(page.contains("Token made for eve"))
            #expect(page.contains("Token made for alice"))
            #expect(page.contains(minted.record.id))
            // Who made each token, when and for whom: how an admin tells their own from others'.
            let origin = try #require(page.range(of: minted.record.id).map { String(page[$0.upperBound...].prefix(200)) })
            #expect(origin.contains("made by cli:root on ") && origin.contains(" for alice"))
            #expect(page.components(separatedBy: "Read generation gen-seen").count - 1 == 3)
            #expect(page.contains("zed became an admin"))
            #expect(page.contains("Token of zed can now read this account"))
            #expect(page.contains(early.record.id))
            #expect(!page.contains(Fixture.bodyMarker))
        }
        let reads = try await fixture.withStore { store in
            try await store.auditEvents(accountID: "org_acme", actions: ["generation.read"], before: nil, limit: 10)
        }
        let tokenIDs = Set(reads.compactMap { $0.event.detail })
        #expect(tokenIDs.count == 3)
        #expect(tokenIDs.contains(#"{"token_id":"\#(minted.record.id)"}"#))
    }

    @Test("after sign-in, next= only ever leads to a path on this site")
    func nextStaysOnSite() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            for next in ["/\t/evil.example", "/ /evil.example", "/\\evil.example", "//evil.example", "https://evil.example", "/%09/x\u{7f}"] {
                var browser = PagesTests.Browser(client: client)
                let (status, fields, _) = try await browser.login(fixture.admin, next: next)
                #expect(status == .seeOther || status == .found, "\(next)")
                #expect(fields[.location] == "/accounts", "\(next)")
            }
            var browser = PagesTests.Browser(client: client)
            #expect(try await browser.login(fixture.admin, next: "/accounts/org_acme/settings").1[.location] == "/accounts/org_acme/settings")
        }
    }

    @Test("--max-body-bytes has a ceiling")
    func bodyLimitCeiling() async throws {
        let fixture = try await Fixture { $0.maximumBodyBytes = 1 << 30 }
        defer { fixture.remove() }
        await #expect(throws: IOLogError.self) { _ = try await AppServices.open(fixture.arguments) }
    }
}
