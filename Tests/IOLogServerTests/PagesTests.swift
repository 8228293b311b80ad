import Foundation
import Hummingbird
import HummingbirdTesting
import IOLogCore
import IOLogTestSupport
import Synchronization
import Testing

@testable import IOLogServer

/// The Logs pages at the HTTP level: sessions, CSRF, access, escaping, headers. The browser
/// suite (Tests/browser) drives the same pages in real Chromium.
@Suite("Logs pages")
struct PagesTests {
    /// A browser in miniature: keeps cookies, signs in through the real form.
    struct Browser {
        let client: any TestClientProtocol
        var cookies: [String: String] = [:]

        var cookieHeader: HTTPFields {
            var fields = HTTPFields()
            if !cookies.isEmpty {
                fields[.cookie] = cookies.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")
            }
            return fields
        }

        mutating func keep(_ response: TestResponse) {
            for header in response.headers[values: .setCookie] {
                let pair = header.split(separator: ";")[0].split(separator: "=", maxSplits: 1)
                let value = pair.count == 2 ? String(pair[1]) : ""
                if value.isEmpty || header.contains("Max-Age=0") { cookies[String(pair[0])] = nil } else { cookies[String(pair[0])] = value }
            }
        }

        mutating func get(_ uri: String) async throws -> (HTTPResponse.Status, HTTPFields, String) {
            let response = try await client.execute(uri: uri, method: .get, headers: cookieHeader, body: nil) { $0 }
            keep(response)
            return (response.status, response.headers, String(buffer: response.body))
        }

        mutating func post(_ uri: String, form: [String: String]) async throws -> (HTTPResponse.Status, HTTPFields, String) {
            var fields = cookieHeader
            fields[.contentType] = "application/x-www-form-urlencoded"
            let body = form.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }
                .joined(separator: "&")
            let response = try await client.execute(uri: uri, method: .post, headers: fields, body: ByteBuffer(string: body)) { $0 }
            keep(response)
            return (response.status, response.headers, String(buffer: response.body))
        }

        /// The value of a hidden form field on a page.
        static func field(_ name: String, in html: String) -> String? {
            guard let range = html.range(of: "name=\"\(name)\" value=\"") else { return nil }
            return String(html[range.upperBound...].prefix { $0 != "\"" })
        }

        mutating func login(_ token: String, next: String? = nil) async throws -> (HTTPResponse.Status, HTTPFields, String) {
            let (_, _, page) = try await get("/login")
            var form = ["token": token, "csrf": Self.field("csrf", in: page) ?? ""]
            form["next"] = next
            return try await post("/login", form: form)
        }

        /// The CSRF token of the signed-in pages (from the sign-out form).
        mutating func csrf() async throws -> String {
            let (_, _, page) = try await get("/accounts/org_acme/settings")
            return Self.field("csrf", in: page) ?? ""
        }
    }

    @Test("every template parses and none uses unescaped output")
    func templatesAreSafe() throws {
        _ = try PageRenderer()
        for (name, source) in PageRenderer.templates {
            let text = String(decoding: source, as: UTF8.self)
            #expect(!text.contains("{{{"), "\(name) uses {{{ }}}")
            #expect(!text.contains("{{&"), "\(name) uses {{& }}")
            #expect(!text.contains("<script"), "\(name) has a script")
            #expect(!text.contains("style="), "\(name) has an inline style (the CSP forbids it)")
        }
    }

    @Test("login: CSRF-checked, user tokens only, session cookie HttpOnly + SameSite=Strict, stored hashed")
    func login() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        let started = Date()
        let sessionCookie = Mutex<String>("")
        try await fixture.withApp { client in
            var browser = Browser(client: client)
            // Without the form's token (a cross-site form post): refused.
            _ = try await browser.get("/login")
            let forged = try await browser.post("/login", form: ["token": fixture.admin, "csrf": "0123"])
            #expect(forged.0 == .forbidden)
            #expect(browser.cookies["iolog_session"] == nil)
            for (token, message) in [
                (fixture.gateway, "gateway or platform token"), (fixture.platform, "gateway or platform token"),
                ("iolog_usr-00_" + String(repeating: "0", count: 64), "unknown or revoked"),
            ] {
                let (status, _, page) = try await browser.login(token)
                #expect(status == .unauthorized)
                #expect(page.contains(message))
                #expect(!page.contains(token))
            }
            let (status, fields, _) = try await browser.login(fixture.admin, next: "//evil.example/")
            #expect(status == .seeOther)
            #expect(fields[.location] == "/accounts")
            let setCookie = try #require(fields[values: .setCookie].first { $0.hasPrefix("iolog_session=") })
            #expect(setCookie.contains("HttpOnly"))
            #expect(setCookie.contains("SameSite=Strict"))
            #expect(setCookie.contains("Path=/"))
            let cookie = try #require(browser.cookies["iolog_session"])
            #expect(cookie.count == 64)
            sessionCookie.withLock { $0 = cookie }
            // Alice admins one account (and is a member of no other): straight to its logs.
            let (accountsStatus, accountsFields, _) = try await browser.get("/accounts")
            #expect(accountsStatus == .found)
            #expect(accountsFields[.location] == "/accounts/org_acme/logs")
            // A `next` on this site is honoured.
            var second = Browser(client: client)
            #expect(try await second.login(fixture.admin, next: "/accounts/org_acme/settings").1[.location] == "/accounts/org_acme/settings")
        }
        let cookie = sessionCookie.withLock { $0 }
        let stored = try await fixture.withStore { store in try await store.session(secretSHA256: Digest.sha256(cookie.utf8), at: Fixture.now) }
        #expect(stored != nil)
        // Only the digest is stored: the cookie itself is in no file the engine wrote.
        let files = try await fixture.withEngine { engine in try await StoredFiles.paths(folder: fixture.path, engine: engine, since: started) }
        #expect(!files.isEmpty)
        for file in files {
            #expect(!StoredFiles.file(file, contains: Array(cookie.utf8)), "\(file) holds the session cookie")
        }
    }

    @Test("a session ends on logout, on expiry and when its token is revoked")
    func sessionEnds() async throws {
        let clock = Mutex(Fixture.now.date)
        let fixture = try await Fixture { arguments in arguments.clock = Clock { clock.withLock { $0 } } }
        defer { fixture.remove() }
        let issued = try await fixture.withStore { store in
            try await TokenService(store: store).create(kind: .user, userID: "alice", actor: "test")
        }
        try await fixture.withApp { client in
            // Logout: the old cookie no longer works, even if replayed.
            var browser = Browser(client: client)
            _ = try await browser.login(fixture.admin)
            let cookie = try #require(browser.cookies["iolog_session"])
            #expect(try await browser.get("/accounts/org_acme/logs").0 == .ok)
            let csrf = try await browser.csrf()
            #expect(try await browser.post("/logout", form: ["csrf": "wrong"]).0 == .forbidden)
            let (status, fields, _) = try await browser.post("/logout", form: ["csrf": csrf])
            #expect(status == .seeOther)
            #expect(fields[.location] == "/login")
            #expect(browser.cookies["iolog_session"] == nil)
            browser.cookies["iolog_session"] = cookie
            let (replayed, replayedFields, _) = try await browser.get("/accounts/org_acme/logs")
            #expect(replayed == .found)
            #expect(replayedFields[.location] == "/login?next=%2Faccounts%2Forg_acme%2Flogs")

            // Expiry: 12 hours after login, whatever the activity.
            var expiring = Browser(client: client)
            _ = try await expiring.login(fixture.admin)
            clock.withLock { $0 += Double(SessionService.lifetimeSeconds) - 1 }
            #expect(try await expiring.get("/accounts/org_acme/logs").0 == .ok)
            clock.withLock { $0 += 2 }
            #expect(try await expiring.get("/accounts/org_acme/logs").0 == .found)

            // Revocation of the token the session was opened with.
            var revoking = Browser(client: client)
            _ = try await revoking.login(issued.token)
            #expect(try await revoking.get("/accounts/org_acme/logs").0 == .ok)
            // As `iolog tokens revoke` does it: another connection to the same database.
            try await fixture.withStore { store in try await TokenService(store: store).revoke(id: issued.record.id, actor: "test") }
            #expect(try await revoking.get("/accounts/org_acme/logs").0 == .found)
            #expect(try await revoking.post("/accounts/org_acme/settings/io-logging", form: ["csrf": "x", "enabled": "false"]).0 == .unauthorized)
        }
        let left = try await fixture.sql("SELECT count(*) FROM sessions WHERE token_id = '\(issued.record.id)'")
        #expect(left == [["0"]])
    }

    @Test("the same access rules as the API: member 403, outsider and unknown account the same 404, denials audited")
    func access() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            #expect(try await client.ingest(generation("gen-page"), token: fixture.gateway).0 == .created)
            var member = Browser(client: client)
            _ = try await member.login(fixture.member)
            let accounts = try await member.get("/accounts")
            #expect(accounts.0 == .ok)
            #expect(accounts.2.contains("Only admins can view logs."))
            #expect(!accounts.2.contains("href=\"/accounts/org_acme/logs\""))
            for path in ["/accounts/org_acme/logs", "/accounts/org_acme/logs/gen-page", "/accounts/org_acme/settings"] {
                let (status, _, page) = try await member.get(path)
                #expect(status == .forbidden, "\(path)")
                #expect(page.contains("Only admins can view logs"))
                #expect(!page.contains("What is 2+2?"))
            }
            let toggled = try await member.post(
                "/accounts/org_acme/settings/io-logging",
                form: ["csrf": try await member.csrfOf("/accounts"), "enabled": "false"]
            )
            #expect(toggled.0 == .forbidden)

            var outsider = Browser(client: client)
            _ = try await outsider.login(fixture.outsider)
            let existing = try await outsider.get("/accounts/org_acme/logs/gen-page")
            let missing = try await outsider.get("/accounts/org_nope/logs/gen-page")
            #expect(existing.0 == .notFound)
            #expect(missing.0 == .notFound)
            #expect(existing.2 == missing.2)
            #expect(!existing.2.contains("What is 2+2?"))
        }
        let denied = try await fixture.withStore { store in
            try await store.auditEvents(accountID: "org_acme", actions: ["access.denied"], before: nil, limit: 50)
        }
        // Bob's four refusals within a minute are one row and a count written at shutdown; the
        // outsider's is a third. Every refusal is accounted for; the unknown account gets no trail.
        #expect(denied.count == 3)
        #expect(denied.map { refusals($0) }.reduce(0, +) == 5)
        #expect(denied.allSatisfy { $0.event.detail?.range(of: #""route":"(GET|POST) /accounts/\{account\}/"#, options: .regularExpression) != nil })
        #expect(
            try await fixture.withStore { store in try await store.auditEvents(accountID: "org_nope", actions: nil, before: nil, limit: 5) }.isEmpty
        )
        let setting = try await fixture.withStore { store in try await store.account(id: "org_acme")?.ioLogging.enabled }
        #expect(setting == true)
    }

    @Test("the toggle needs the session's CSRF token, and is audited with the user")
    func toggle() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            var admin = Browser(client: client)
            _ = try await admin.login(fixture.admin)
            let settings = try await admin.get("/accounts/org_acme/settings")
            #expect(settings.2.contains("On since 2026-11-01 00:00:00 UTC"))
            #expect(settings.2.contains("routed through the EU are never stored"))
            #expect(settings.2.contains("this service keeps them 3 calendar months after they were made"))
            let csrf = try #require(Browser.field("csrf", in: settings.2))
            // A second session's token does not work for the first.
            var other = Browser(client: client)
            _ = try await other.login(fixture.admin)
            let otherCSRF = try await other.csrf()
            #expect(otherCSRF != csrf)
            for bad in [nil, "", otherCSRF] {
                var form = ["enabled": "false"]
                form["csrf"] = bad
                #expect(try await admin.post("/accounts/org_acme/settings/io-logging", form: form).0 == .forbidden)
            }
            #expect(try await admin.post("/accounts/org_acme/settings/io-logging", form: ["csrf": csrf, "enabled": "maybe"]).0 == .badRequest)
            let off = try await admin.post("/accounts/org_acme/settings/io-logging", form: ["csrf": csrf, "enabled": "false"])
            #expect(off.0 == .seeOther)
            #expect(off.1[.location] == "/accounts/org_acme/settings")
            #expect(try await admin.get("/accounts/org_acme/settings").2.contains("Off. Nothing new is stored."))
        }
        let events = try await fixture.withStore { store in try await store.auditEvents(accountID: "org_acme", actions: nil, before: nil, limit: 10) }
        #expect(events.first?.event.action == "io_logging.disable")
        #expect(events.first?.event.actor.hasPrefix("user:alice") == true)
    }

    @Test("content is escaped, reads are audited, pages carry the security headers and are not cached")
    func detailPage() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        let payload = "<script>alert(1)</script><img src=x onerror=alert(2)>\"><svg onload=alert(3)>"
        try await fixture.withApp { client in
            let body = generation(
                "gen-xss",
                ["prompt": [["role": "user", "content": payload]], "model": payload, "reasoning": "thinking " + payload]
            )
            #expect(try await client.ingest(body, token: fixture.gateway).0 == .created)
            var admin = Browser(client: client)
            _ = try await admin.login(fixture.admin)
            for path in ["/accounts/org_acme/logs", "/accounts/org_acme/logs/gen-xss"] {
                let (status, fields, page) = try await admin.get(path)
                #expect(status == .ok)
                #expect(!page.contains("<script"))
                #expect(!page.contains("<img"))
                #expect(!page.contains("<svg"))
                #expect(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;&quot;&gt;&lt;svg onload=alert(3)&gt;"))
                #expect(fields[.contentSecurityPolicy]?.contains("default-src 'none'") == true)
                #expect(fields[.contentSecurityPolicy]?.contains("frame-ancestors 'none'") == true)
                #expect(fields[.xContentTypeOptions] == "nosniff")
                #expect(fields[.cacheControl] == "no-store")
            }
            let detail = try await admin.get("/accounts/org_acme/logs/gen-xss")
            #expect(detail.2.contains("id=\"label-reasoning\""))
            #expect(try await admin.get("/accounts/org_acme/logs/gen-missing").0 == .notFound)
        }
        let reads = try await fixture.withStore { store in
            try await store.auditEvents(accountID: "org_acme", actions: nil, before: nil, limit: 10).filter { $0.event.action == "generation.read" }
        }
        #expect(reads.map(\.event.target) == ["gen-xss", "gen-xss"])
        #expect(reads.first?.event.actor.hasPrefix("user:alice") == true)
    }

    @Test("a generation's session links to the list of that session, which keeps the filter")
    func sameSession() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            for (id, session) in [("gen-s1", "chat:42"), ("gen-s2", "chat:42"), ("gen-s3", "chat:43"), ("gen-s4", nil)] {
                var fields: [String: Any] = ["created_at": "2026-11-20T10:00:0\(id.suffix(1))Z"]
                fields["session_id"] = session
                #expect(try await client.ingest(generation(id, fields), token: fixture.gateway).0 == .created)
            }
            var admin = Browser(client: client)
            _ = try await admin.login(fixture.admin)
            let detail = try await admin.get("/accounts/org_acme/logs/gen-s1")
            #expect(detail.2.contains("<dt>Session</dt>"))
            let link = "<a href=\"/accounts/org_acme/logs?session_id=chat%3A42\" id=\"same-session\">chat:42</a>"
            #expect(detail.2.contains(link))
            #expect(!(try await admin.get("/accounts/org_acme/logs/gen-s4").2.contains("same-session")))
            let listed = try await admin.get("/accounts/org_acme/logs?session_id=chat%3A42")
            #expect(listed.0 == .ok)
            #expect(listed.2.contains("value=\"chat:42\""))
            #expect(listed.2.contains("/logs/gen-s2?session_id=chat%3A42"))
            #expect(listed.2.contains("/logs/gen-s1?session_id=chat%3A42"))
            #expect(!listed.2.contains("/logs/gen-s3"))
            #expect(!listed.2.contains("/logs/gen-s4"))
            // The way back from a detail opened in the filtered list keeps the filter.
            let opened = try await admin.get("/accounts/org_acme/logs/gen-s2?session_id=chat%3A42")
            #expect(opened.2.contains("href=\"/accounts/org_acme/logs?session_id=chat%3A42\" id=\"back\""))
            let bad = try await admin.get("/accounts/org_acme/logs?session_id=a%20b")
            #expect(bad.0 == .badRequest)
            #expect(bad.2.contains("session_id must be 1–128 characters"))
        }
    }

    @Test("filters in the URL, bad filters named, newer and older pages without gaps")
    func listPaging() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            var items: [Payload] = []
            for index in 0..<120 {
                items.append(
                    generation(
                        String(format: "gen-%03d", index),
                        [
                            "created_at": "2026-11-20T10:00:\(String(format: "%02d", index % 60)).\(index / 60)Z",
                            "model": index % 3 == 0 ? "m/three" : "m/other",
                        ]
                    )
                )
            }
            let batch = try await client.execute(
                uri: "/v1/generations/batch",
                method: .post,
                headers: headers(token: fixture.gateway),
                body: Payload.batch(items).buffer
            ) { $0.status }
            #expect(batch == .ok)
            var admin = Browser(client: client)
            _ = try await admin.login(fixture.admin)
            func ids(_ page: String) -> [String] {
                page.components(separatedBy: "href=\"/accounts/org_acme/logs/").dropFirst().map { String($0.prefix { $0 != "\"" && $0 != "?" }) }
            }
            func link(_ id: String, _ page: String) -> String? {
                guard let range = page.range(of: "id=\"\(id)\"") else { return nil }
                let before = page[..<range.lowerBound]
                guard let href = before.range(of: "href=\"", options: .backwards) else { return nil }
                return String(before[href.upperBound...].prefix { $0 != "\"" }).replacingOccurrences(of: "&amp;", with: "&")
                    .replacingOccurrences(of: "&#39;", with: "'").replacingOccurrences(of: "&quot;", with: "\"")
            }
            var seen: [String] = []
            var pages: [String] = []
            var next: String? = "/accounts/org_acme/logs"
            while let uri = next {
                let (status, _, page) = try await admin.get(uri)
                #expect(status == .ok)
                seen += ids(page)
                pages.append(uri)
                next = link("older", page)
            }
            #expect(seen.count == 120)
            #expect(Set(seen).count == 120)
            // Walking back with "newer" from the last page shows the previous pages again.
            let last = try await admin.get(pages.last!)
            let newer = try #require(link("newer", last.2))
            let back = try await admin.get(newer)
            #expect(ids(back.2) == Array(seen[50..<100]))
            let first = try await admin.get(try #require(link("newer", back.2)))
            #expect(ids(first.2) == Array(seen[0..<50]))
            #expect(link("newer", first.2) == nil)

            let filtered = try await admin.get("/accounts/org_acme/logs?model=m%2Fthree&from=2026-11-20&to=2026-11-20")
            #expect(ids(filtered.2).count == 40)
            #expect(filtered.2.contains("value=\"m/three\""))
            #expect(try await admin.get("/accounts/org_acme/logs?model=m%2Fthree&to=2026-11-19").2.contains("No generations match these filters."))
            let bad = try await admin.get("/accounts/org_acme/logs?from=yesterday")
            #expect(bad.0 == .badRequest)
            #expect(bad.2.contains("from must be an RFC 3339 timestamp or a date"))
            #expect(try await admin.get("/accounts/org_acme/logs?cursor=nonsense").0 == .badRequest)
        }
    }
}

extension PagesTests.Browser {
    /// The CSRF token of the sign-out form on any signed-in page.
    mutating func csrfOf(_ path: String) async throws -> String {
        Self.field("csrf", in: try await get(path).2) ?? ""
    }
}

/// How many refusals an `access.denied` row stands for.
func refusals(_ row: StoredAuditEvent) -> Int {
    guard let detail = row.event.detail, let range = detail.range(of: #""refusals":[0-9]+"#, options: .regularExpression) else { return 0 }
    return Int(detail[range].split(separator: ":")[1]) ?? 0
}
