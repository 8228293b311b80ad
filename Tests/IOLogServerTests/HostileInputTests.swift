import Foundation
import Hummingbird
import HummingbirdTesting
import IOLogCore
import Testing

@testable import IOLogServer

/// Regressions from `scripts/hostile` (issue 14): each test is a case the hostile corpus found
/// answered wrongly.
@Suite("Hostile input found by scripts/hostile")
struct HostileInputTests {
    @Test("a malformed chunk size is 400, not 500, and nothing is stored")
    func malformedChunkIsTheClientsFault() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        let logs = LogCapture()
        try await fixture.withApp(logs: logs, mode: .live) { client in
            let port = try #require(client.port)
            for chunk in ["zz\r\nx\r\n0\r\n\r\n", "fffffffffffffffffffff\r\nx\r\n0\r\n\r\n"] {
                let connection = try RawConnection(port: port)
                connection.send(
                    "POST /v1/generations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(fixture.gateway)\r\n"
                        + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunk
                )
                let answer = await connection.response()
                #expect(answer.hasPrefix("HTTP/1.1 400"), "\(answer.prefix(120))")
            }
        }
        #expect(!logs.text.contains("unhandled error"))
        #expect(try await fixture.sql("SELECT id FROM generations").isEmpty)
    }

    @Test("a compressed body is refused 415, never stored as if it were JSON")
    func contentEncodingIsRefused() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            for encoding in ["gzip", "br", "deflate"] {
                var fields = headers(token: fixture.gateway)
                fields[.contentEncoding] = encoding
                let status = try await client.execute(
                    uri: "/v1/generations",
                    method: .post,
                    headers: fields,
                    body: generation("gen-\(encoding)").buffer
                ) { $0.status }
                #expect(status == .unsupportedMediaType, "\(encoding)")
            }
            var identity = headers(token: fixture.gateway)
            identity[.contentEncoding] = "identity"
            let status = try await client.execute(uri: "/v1/generations", method: .post, headers: identity, body: generation("gen-plain").buffer) {
                $0.status
            }
            #expect(status == .created)
        }
    }

    @Test("query strings read + as a space, as forms and most clients write them; %2B is a plus")
    func plusInQueryIsASpace() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            #expect(try await client.ingest(generation("gen-space", ["model": "my model"]), token: fixture.gateway).0 == .created)
            #expect(try await client.ingest(generation("gen-plus", ["model": "my+model"]), token: fixture.gateway).0 == .created)
            for (query, expected) in [("model=my+model", "gen-space"), ("model=my%20model", "gen-space"), ("model=my%2Bmodel", "gen-plus")] {
                let body = try await client.execute(
                    uri: "/v1/accounts/org_acme/generations?\(query)",
                    method: .get,
                    headers: headers(token: fixture.admin, contentType: nil)
                ) { String(buffer: $0.body) }
                let other = expected == "gen-space" ? "gen-plus" : "gen-space"
                #expect(body.contains(expected) && !body.contains(other), "\(query)")
            }
            // The Logs page's own filter form sends `+`.
            var browser = PagesTests.Browser(client: client)
            #expect(try await browser.login(fixture.admin).0 == .seeOther)
            let (status, _, page) = try await browser.get("/accounts/org_acme/logs?model=my+model")
            #expect(status == .ok)
            #expect(page.contains("gen-space") && !page.contains("gen-plus"))
        }
    }

    @Test("an account without a name is answered with \"name\": null, as the schema requires")
    func accountNameIsAlwaysPresent() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            let body = try await client.execute(
                uri: "/v1/accounts/org_unnamed",
                method: .put,
                headers: headers(token: fixture.platform),
                body: Payload(["kind": "organization"]).buffer
            ) { String(buffer: $0.body) }
            #expect(body.contains(#""name":null"#), "\(body)")
        }
    }
}
