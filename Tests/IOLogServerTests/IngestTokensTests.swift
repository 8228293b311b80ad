import Foundation
import Hummingbird
import HummingbirdTesting
import IOLogCore
import Synchronization
import Testing

@testable import IOLogServer

/// Account ingest tokens made by the account's admins (DESIGN §4.5): through the API and on the
/// Settings page, shown once, bound to the account, revocable, and in the account's trail.
@Suite("Account ingest tokens")
struct IngestTokensTests {
    private func call(
        _ client: some TestClientProtocol,
        _ method: HTTPRequest.Method,
        _ uri: String,
        token: String,
        body: Any? = nil
    ) async throws -> (HTTPResponse.Status, [String: Any]) {
        try await client.execute(uri: uri, method: method, headers: headers(token: token), body: try body.map(jsonBuffer)) {
            ($0.status, try jsonObject($0))
        }
    }

    @Test("admins make, list and revoke them through the API; the token ingests for the account only; all of it audited")
    func throughTheAPI() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        let logs = LogCapture()
        let secret = Mutex("")
        let madeIDs = Mutex<[String]>([])
        try await fixture.withApp(logs: logs) { client in
            let path = "/v1/accounts/org_acme/ingest-tokens"
            let (status, made) = try await call(client, .post, path, token: fixture.admin, body: ["label": "OpenRouter Broadcast"])
            #expect(status == .created)
            let token = try #require(made["token"] as? String)
            let id = try #require(made["id"] as? String)
            secret.withLock { $0 = String(token.split(separator: "_").last ?? "") }
            madeIDs.withLock { $0.append(id) }
            #expect(token.hasPrefix("iolog_ing-"))
            #expect(made["account_id"] as? String == "org_acme")
            #expect(made["label"] as? String == "OpenRouter Broadcast")
            #expect((made["created_by"] as? String)?.hasPrefix("user:alice") == true)

            #expect(try await client.ingest(generation("gen-via-ingest-token"), token: token).0 == .created)
            #expect(try await client.ingest(generation("gen-elsewhere", account: "org_other"), token: token).0 == .forbidden)

            // A body is optional; the list (with the fixture's own token) never shows a secret.
            let (second, plain) = try await call(client, .post, path, token: fixture.admin)
            #expect(second == .created)
            #expect(plain["label"] is NSNull)
            madeIDs.withLock { $0.append(plain["id"] as? String ?? "") }
            let (listed, list) = try await call(client, .get, path, token: fixture.admin)
            #expect(listed == .ok)
            let rows = list["data"] as? [[String: Any]] ?? []
            #expect(rows.count == 3)
            #expect(Set(madeIDs.withLock { $0 }).isSubset(of: Set(rows.compactMap { $0["id"] as? String })))
            #expect(rows.allSatisfy { $0["token"] == nil && $0["revoked_at"] is NSNull })

            // Only the account's admins; another account's admin cannot reach this token.
            #expect(try await call(client, .get, path, token: fixture.member).0 == .forbidden)
            #expect(try await call(client, .post, path, token: fixture.outsider).0 == .notFound)
            #expect(try await call(client, .post, path, token: fixture.gateway).0 == .forbidden)
            #expect(try await call(client, .post, path, token: token).0 == .forbidden)
            #expect(try await call(client, .delete, "/v1/accounts/org_other/ingest-tokens/\(id)", token: fixture.otherAdmin).0 == .notFound)

            for (body, field) in [(["label": 5] as [String: Any], "label"), (["name": "x"], "name"), (["label": "two\nlines"], "label")] {
                let (refused, error) = try await call(client, .post, path, token: fixture.admin, body: body)
                #expect(refused == .badRequest)
                #expect((error["error"] as? [String: Any])?["field"] as? String == field)
            }

            let (revokedStatus, revoked) = try await call(client, .delete, "\(path)/\(id)", token: fixture.admin)
            #expect(revokedStatus == .ok)
            #expect(revoked["revoked_at"] is String)
            #expect(try await client.ingest(generation("gen-after-revoke"), token: token).0 == .unauthorized)
            #expect(try await call(client, .delete, "\(path)/\(id)", token: fixture.admin).0 == .notFound)
            #expect(try await call(client, .delete, "\(path)/gw-0000", token: fixture.admin).0 == .notFound)
        }
        let secretText = secret.withLock { $0 }
        #expect(!secretText.isEmpty)
        #expect(!logs.text.contains(secretText), "an ingest token's secret reached the log")
        let ids = Set(madeIDs.withLock { $0 })
        let trail = try await fixture.withStore { store in
            try await store.auditEvents(accountID: "org_acme", actions: ["token.create", "token.revoke"], before: nil, limit: 20)
        }.filter { ids.contains($0.event.target ?? "") }
        #expect(trail.map(\.event.action) == ["token.revoke", "token.create", "token.create"])
        #expect(trail.allSatisfy { $0.event.actor.hasPrefix("user:alice") })
        let otherTrail = try await fixture.withStore { store in
            try await store.auditEvents(accountID: "org_other", actions: ["token.create", "token.revoke"], before: nil, limit: 20)
        }
        #expect(!otherTrail.contains { ids.contains($0.event.target ?? "") })
    }

    @Test("on the Settings page: made with the session's CSRF token, shown once, listed, revoked, in the access history")
    func onTheSettingsPage() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            var admin = PagesTests.Browser(client: client)
            _ = try await admin.login(fixture.admin)
            let csrf = try await admin.csrf()
            let page = "/accounts/org_acme/settings"
            let before = try await admin.get(page).2
            #expect(before.contains("id=\"ingest-tokens\""))
            #expect(!before.contains("broadcast"))
            #expect(try await admin.post("\(page)/ingest-tokens", form: ["label": "broadcast"]).0 == .forbidden)

            let made = try await admin.post("\(page)/ingest-tokens", form: ["csrf": csrf, "label": "broadcast <b>"])
            #expect(made.0 == .ok)
            #expect(made.1[.cacheControl] == "no-store")
            let marker = "id=\"new-ingest-token\" class=\"secret\">"
            let start = try #require(made.2.range(of: marker))
            let token = String(made.2[start.upperBound...].prefix { $0 != "<" })
            #expect(token.hasPrefix("iolog_ing-"))
            #expect(made.2.contains("broadcast &lt;b&gt;"))
            #expect(try await client.ingest(generation("gen-from-page-token"), token: token).0 == .created)

            // Shown once: the next view lists the token by id only.
            let again = try await admin.get(page)
            #expect(!again.2.contains("new-ingest-token"))
            #expect(!again.2.contains(String(token.split(separator: "_").last ?? "")))
            let id = String(token.dropFirst("iolog_".count).split(separator: "_")[0])
            #expect(again.2.contains("<code>\(id)</code>"))
            #expect(again.2.contains("id=\"revoke-\(id)\""))
            #expect(again.2.contains("Ingest token made (broadcast &lt;b&gt;)"))

            #expect(try await admin.post("\(page)/ingest-tokens/\(id)/revoke", form: [:]).0 == .forbidden)
            let revoked = try await admin.post("\(page)/ingest-tokens/\(id)/revoke", form: ["csrf": csrf])
            #expect(revoked.0 == .seeOther)
            #expect(!(try await admin.get(page).2.contains("id=\"revoke-\(id)\"")))
            #expect(try await client.ingest(generation("gen-after-page-revoke"), token: token).0 == .unauthorized)
            #expect(try await admin.post("\(page)/ingest-tokens/\(id)/revoke", form: ["csrf": csrf]).0 == .notFound)

            // A member sees no Settings page at all, so cannot make one.
            var member = PagesTests.Browser(client: client)
            _ = try await member.login(fixture.member)
            #expect(try await member.post("\(page)/ingest-tokens", form: ["csrf": try await member.csrfOf("/accounts")]).0 == .forbidden)
        }
    }
}
