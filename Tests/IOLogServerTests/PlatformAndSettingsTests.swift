import Foundation
import Hummingbird
import HummingbirdTesting
import IOLogCore
import IOLogServer
import Testing

@Suite("Platform API and the logging toggle")
struct PlatformAndSettingsTests {
    @Test func platformSyncsAccountsAndMemberships() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            let put = { (uri: String, body: String, token: String?) async throws -> (HTTPResponse.Status, String) in
                try await client.execute(uri: uri, method: .put, headers: headers(token: token), body: ByteBuffer(string: body)) {
                    ($0.status, String(buffer: $0.body))
                }
            }
            let (created, account) = try await put("/v1/accounts/org_new", #"{"kind":"organization","name":"New Co"}"#, fixture.platform)
            #expect(created == .ok)
            #expect(account == #"{"id":"org_new","io_logging":{"enabled":false,"enabled_at":null},"kind":"organization","name":"New Co"}"#)
            #expect(try await put("/v1/accounts/org_new", #"{"kind":"company"}"#, fixture.platform).0 == .badRequest)
            #expect(try await put("/v1/accounts/bad%20id", #"{"kind":"personal"}"#, fixture.platform).0 == .badRequest)
            #expect(try await put("/v1/accounts/org_new/members/dana", #"{"role":"admin"}"#, fixture.platform).0 == .ok)
            #expect(try await put("/v1/accounts/org_new/members/dana", #"{"role":"owner"}"#, fixture.platform).0 == .badRequest)
            #expect(try await put("/v1/accounts/org_ghost/members/dana", #"{"role":"admin"}"#, fixture.platform).0 == .notFound)
            for token in [fixture.gateway, fixture.admin] {
                #expect(try await put("/v1/accounts/org_new", #"{"kind":"personal"}"#, token).0 == .forbidden)
            }
            #expect(try await put("/v1/accounts/org_new", #"{"kind":"personal"}"#, nil).0 == .unauthorized)
            for _ in 0..<2 {
                let status = try await client.execute(
                    uri: "/v1/accounts/org_new/members/dana",
                    method: .delete,
                    headers: headers(token: fixture.platform)
                ) { $0.status }
                #expect(status == .noContent)
            }
        }
        try await fixture.withStore { (store) async throws -> Void in
            #expect(try await store.account(id: "org_new")?.name == "New Co")
            #expect(try await store.role(accountID: "org_new", userID: "dana") == nil)
        }
    }

    @Test func settingsAreForTheAccountsAdminsOnly() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            var notFoundBodies = Set<String>()
            for (token, account, expected) in [
                (fixture.admin, "org_acme", HTTPResponse.Status.ok), (fixture.member, "org_acme", .forbidden),
                (fixture.outsider, "org_acme", .notFound), (fixture.otherAdmin, "org_acme", .notFound),
                (fixture.admin, "org_nowhere", .notFound), (fixture.gateway, "org_acme", .forbidden),
                (fixture.platform, "org_acme", .forbidden), (fixture.revoked, "org_acme", .unauthorized),
            ] {
                for (method, uri, body) in [
                    (HTTPRequest.Method.get, "/v1/accounts/\(account)/settings", nil),
                    (.put, "/v1/accounts/\(account)/settings/io-logging", #"{"enabled":true}"#),
                ] {
                    let (status, text) = try await client.execute(
                        uri: uri,
                        method: method,
                        headers: headers(token: token),
                        body: body.map { ByteBuffer(string: $0) }
                    ) { ($0.status, String(buffer: $0.body)) }
                    #expect(status == expected, "\(method) \(uri)")
                    if status == .notFound { notFoundBodies.insert(text) }
                }
            }
            // An outsider cannot tell an existing account from a missing one.
            #expect(notFoundBodies.count == 1)
        }
    }

    @Test func togglingIsAuditedAndMovesTheBoundary() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            let toggle = { (enabled: Bool) async throws -> [String: Any] in
                try await client.execute(
                    uri: "/v1/accounts/org_acme/settings/io-logging",
                    method: .put,
                    headers: headers(token: fixture.admin),
                    body: ByteBuffer(string: #"{"enabled":\#(enabled)}"#)
                ) { response in
                    #expect(response.status == .ok)
                    return try #require(try jsonObject(response)["io_logging"] as? [String: Any])
                }
            }
            #expect(try await client.ingest(generation("gen-before-off"), token: fixture.gateway).0 == .created)
            let off = try await toggle(false)
            #expect(off["enabled"] as? Bool == false)
            let (status, body) = try await client.ingest(generation(), token: fixture.gateway)
            #expect(status == .accepted)
            #expect(body["reason"] as? String == "not_opted_in")
            let on = try await toggle(true)
            #expect(on["enabled"] as? Bool == true)
            #expect(on["enabled_at"] as? String == Fixture.now.rfc3339)
            // Generations created while logging was off stay unstored after re-enabling.
            let (gap, gapBody) = try await client.ingest(generation(["created_at": "2026-11-22T11:00:00Z"]), token: fixture.gateway)
            #expect(gap == .accepted)
            #expect(gapBody["reason"] as? String == "before_opt_in")
            #expect(try await client.ingest(generation(["created_at": "2026-11-22T12:00:01Z"]), token: fixture.gateway).0 == .created)
            let invalid = try await client.execute(
                uri: "/v1/accounts/org_acme/settings/io-logging",
                method: .put,
                headers: headers(token: fixture.admin),
                body: ByteBuffer(string: #"{"enabled":"yes"}"#)
            ) { ($0.status, try jsonObject($0)["error"] as? [String: Any]) }
            #expect(invalid.0 == .badRequest)
            #expect(invalid.1?["field"] as? String == "enabled")
        }
        try await fixture.withStore { (store) async throws -> Void in
            #expect(try await store.generation(id: "gen-before-off") != nil)
            let events = try await store.auditEvents(
                accountID: "org_acme",
                actions: ["io_logging.enable", "io_logging.disable"],
                before: nil,
                limit: 100
            ).reversed().map { [$0.event.actor, $0.event.action, $0.event.accountID ?? ""] }
            #expect(events.map { $0[1] } == ["io_logging.disable", "io_logging.enable"])
            #expect(events.allSatisfy { $0[0].hasPrefix("user:alice ") && $0[2] == "org_acme" })
        }
    }
}
