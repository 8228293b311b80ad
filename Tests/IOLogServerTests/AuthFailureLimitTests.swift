import Foundation
import Hummingbird
import HummingbirdTesting
import IOLogCore
import NIOCore
import Testing

@testable import IOLogServer

/// Failed authentications are limited per client address (429 with `Retry-After`); a valid
/// token is never refused for what its address did.
@Suite("Limits on failed authentication")
struct AuthFailureLimitTests {
    static let unknownToken = "iolog_gw-00_" + String(repeating: "0", count: 64)

    @Test("past its budget an address gets 429 with Retry-After for every failure, and a valid token still passes")
    func apiFailuresAreLimitedNotValidTokens() async throws {
        let fixture = try await Fixture { $0.authFailurePolicy = AuthFailurePolicy(burst: 3, refill: .seconds(60)) }
        defer { fixture.remove() }
        let logs = LogCapture()
        try await fixture.withApp(logs: logs, mode: .live) { client in
            func list(_ token: String?) async throws -> TestResponse {
                try await client.execute(
                    uri: "/v1/accounts/org_acme/generations",
                    method: .get,
                    headers: headers(token: token, contentType: nil)
                ) { $0 }
            }
            for _ in 0..<3 { #expect(try await list(Self.unknownToken).status == .unauthorized) }
            for token in [Self.unknownToken, nil, fixture.revoked] {
                let limited = try await list(token)
                #expect(limited.status == .tooManyRequests)
                let wait = try #require(limited.headers[.retryAfter].flatMap { Int($0) })
                #expect((1...60).contains(wait))
                let error = try #require(try jsonObject(limited)["error"] as? [String: Any])
                #expect(error["code"] as? String == "too_many_requests")
            }
            // The same address with valid tokens: never locked out.
            #expect(try await list(fixture.admin).status == .ok)
            let stored = try await client.ingest(generation("gen-after-limit"), token: fixture.gateway)
            #expect(stored.0 == .created)
            #expect(try await list(fixture.member).status == .forbidden)
        }
        // Each refusal is a notice line with its kind and the client's address, never the token.
        let refusals = logs.objects.filter { $0["message"] as? String == "authentication refused" }
        #expect(refusals.count == 6)
        #expect(refusals.compactMap { $0["kind"] as? String }.filter { $0 == "rate_limited" }.count == 3)
        #expect(refusals.allSatisfy { $0["client"] as? String == "127.0.0.1" })
        #expect(refusals.allSatisfy { $0["level"] as? String == "notice" })
        #expect(!logs.text.contains(String(Self.unknownToken.split(separator: "_").last!)))
    }

    @Test("the budget refills with time")
    func budgetRefills() async throws {
        let limiter = AuthFailureLimiter(policy: AuthFailurePolicy(burst: 2, refill: .seconds(10)))
        let address = try SocketAddress(ipAddress: "192.0.2.7", port: 1234)
        let start = ContinuousClock.now
        #expect(limiter.fail(from: address, now: start) == nil)
        #expect(limiter.fail(from: address, now: start) == nil)
        let wait = try #require(limiter.fail(from: address, now: start))
        #expect(wait == .seconds(10))
        #expect(AuthFailureLimiter.retryAfterText(wait) == "10")
        // Half way: still limited, for the other half.
        #expect(limiter.fail(from: address, now: start + .seconds(5)) == .seconds(5))
        #expect(limiter.fail(from: address, now: start + .seconds(10)) == nil)
        #expect(limiter.fail(from: address, now: start + .seconds(10)) != nil)
        // A long pause refills to the burst, never beyond it.
        #expect(limiter.fail(from: address, now: start + .seconds(3_600)) == nil)
        #expect(limiter.fail(from: address, now: start + .seconds(3_600)) == nil)
        #expect(limiter.fail(from: address, now: start + .seconds(3_600)) != nil)
    }

    @Test("addresses count apart, an IPv6 /64 counts as one, and the table stays bounded")
    func addressesAndBound() throws {
        let limiter = AuthFailureLimiter(policy: AuthFailurePolicy(burst: 1, refill: .seconds(60)), capacity: 100)
        let now = ContinuousClock.now
        #expect(limiter.fail(from: try SocketAddress(ipAddress: "192.0.2.1", port: 1), now: now) == nil)
        #expect(limiter.fail(from: try SocketAddress(ipAddress: "192.0.2.1", port: 2), now: now) != nil)
        #expect(limiter.fail(from: try SocketAddress(ipAddress: "192.0.2.2", port: 1), now: now) == nil)
        #expect(limiter.fail(from: try SocketAddress(ipAddress: "2001:db8:1:2::1", port: 1), now: now) == nil)
        #expect(limiter.fail(from: try SocketAddress(ipAddress: "2001:db8:1:2:ffff::9", port: 1), now: now) != nil)
        #expect(limiter.fail(from: try SocketAddress(ipAddress: "2001:db8:1:3::1", port: 1), now: now) == nil)
        for index in 0..<1_000 {
            _ = limiter.fail(from: try SocketAddress(ipAddress: "10.0.\(index / 256).\(index % 256)", port: 1), now: now)
        }
        #expect(limiter.trackedAddresses <= 100)
    }

    @Test("sign-in: past the budget the form answers 429 with Retry-After, and the right token still signs in")
    func loginFailuresAreLimited() async throws {
        let fixture = try await Fixture { $0.authFailurePolicy = AuthFailurePolicy(burst: 2, refill: .seconds(60)) }
        defer { fixture.remove() }
        try await fixture.withApp(mode: .live) { client in
            var browser = PagesTests.Browser(client: client)
            for _ in 0..<2 { #expect(try await browser.login("iolog_usr-00_" + String(repeating: "0", count: 64)).0 == .unauthorized) }
            let (status, fields, page) = try await browser.login(fixture.gateway)
            #expect(status == .tooManyRequests)
            #expect(fields[.retryAfter].flatMap { Int($0) } != nil)
            #expect(page.contains("Too many failed sign-ins"))
            #expect(browser.cookies["iolog_session"] == nil)
            let (signedIn, _, _) = try await browser.login(fixture.admin)
            #expect(signedIn == .seeOther)
            #expect(browser.cookies["iolog_session"] != nil)
        }
    }
}
