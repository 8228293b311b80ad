import Foundation
import Hummingbird
import HummingbirdTesting
import IOLogCore
import Testing

@testable import IOLogServer

/// Where a credential is accepted: the API reads only `Authorization: Bearer`, the pages only
/// their session cookie (ASVS 3.1.1, 8.1.3, 4.2.2).
@Suite("Where credentials are read")
struct CredentialPlacementTests {
    @Test("a token in the query string is not a credential")
    func tokenInQueryIsRefused() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            for name in ["access_token", "token", "authorization", "bearer"] {
                let status = try await client.execute(
                    uri: "/v1/accounts/org_acme/generations?\(name)=\(fixture.admin)",
                    method: .get
                ) { $0.status }
                #expect(status == .unauthorized, "?\(name)= was taken as a credential")
            }
        }
    }

    @Test("the pages' session cookie does not open the API, so no other site can make a signed-in browser call it")
    func sessionCookieDoesNotOpenTheAPI() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            var browser = PagesTests.Browser(client: client)
            #expect(try await browser.login(fixture.admin).0 == .seeOther)
            #expect(browser.cookies["iolog_session"] != nil)
            for (uri, method) in [
                ("/v1/accounts/org_acme/generations", HTTPRequest.Method.get), ("/v1/accounts/org_acme/export", .get),
                ("/v1/accounts/org_acme/deletion-requests", .post),
            ] {
                let status = try await client.execute(uri: uri, method: method, headers: browser.cookieHeader) { $0.status }
                #expect(status == .unauthorized, "\(method) \(uri) with the session cookie alone")
            }
        }
    }
}
