import Foundation
import Hummingbird
import HummingbirdTesting
import IOLogCore
import IOLogServer
import Testing

@Suite("Who may call what")
struct AccessMatrixTests {
    enum Caller: String, CaseIterable, Sendable {
        case none, bad, revoked, gateway, platform, member, otherAdmin, outsider, admin

        func token(_ fixture: Fixture) -> String? {
            switch self {
            case .none: nil
            case .bad: "iolog_gw-0000000000000000_" + String(repeating: "0", count: 64)
            case .revoked: fixture.revoked
            case .gateway: fixture.gateway
            case .platform: fixture.platform
            case .member: fixture.member
            case .otherAdmin: fixture.otherAdmin
            case .outsider: fixture.outsider
            case .admin: fixture.admin
            }
        }
    }

    enum Group { case ingest, platform, admin }

    struct Endpoint: Sendable {
        let name: String
        let method: HTTPRequest.Method
        let uri: String
        let body: @Sendable () -> ByteBuffer?
        let group: Group
        /// The status for the one caller allowed in.
        let allowed: HTTPResponse.Status
    }

    static let secret = "MATRIX-SECRET-CONTENT-8d8d8d"

    static let endpoints: [Endpoint] = [
        Endpoint(name: "ingest", method: .post, uri: "/v1/generations", body: { generation().buffer }, group: .ingest, allowed: .created),
        Endpoint(
            name: "batch",
            method: .post,
            uri: "/v1/generations/batch",
            body: { Payload.batch([generation()]).buffer },
            group: .ingest,
            allowed: .ok
        ),
        Endpoint(
            name: "upsert account",
            method: .put,
            uri: "/v1/accounts/org_acme",
            body: { ByteBuffer(string: #"{"kind":"organization","name":"Acme"}"#) },
            group: .platform,
            allowed: .ok
        ),
        Endpoint(
            name: "set member",
            method: .put,
            uri: "/v1/accounts/org_acme/members/carol",
            body: { ByteBuffer(string: #"{"role":"member"}"#) },
            group: .platform,
            allowed: .ok
        ),
        Endpoint(
            name: "remove member",
            method: .delete,
            uri: "/v1/accounts/org_acme/members/carol",
            body: { nil },
            group: .platform,
            allowed: .noContent
        ),
        Endpoint(name: "settings", method: .get, uri: "/v1/accounts/org_acme/settings", body: { nil }, group: .admin, allowed: .ok),
        Endpoint(
            name: "toggle",
            method: .put,
            uri: "/v1/accounts/org_acme/settings/io-logging",
            body: { ByteBuffer(string: #"{"enabled":true}"#) },
            group: .admin,
            allowed: .ok
        ),
        Endpoint(name: "list", method: .get, uri: "/v1/accounts/org_acme/generations", body: { nil }, group: .admin, allowed: .ok),
        Endpoint(name: "detail", method: .get, uri: "/v1/accounts/org_acme/generations/gen-matrix", body: { nil }, group: .admin, allowed: .ok),
        Endpoint(name: "export", method: .get, uri: "/v1/accounts/org_acme/export", body: { nil }, group: .admin, allowed: .ok),
        Endpoint(name: "audit events", method: .get, uri: "/v1/accounts/org_acme/audit-events", body: { nil }, group: .admin, allowed: .ok),
        Endpoint(
            name: "file deletion request",
            method: .post,
            uri: "/v1/accounts/org_acme/deletion-requests",
            body: { ByteBuffer(string: #"{"generation_ids":["gen-none"]}"#) },
            group: .admin,
            allowed: .created
        ),
        Endpoint(name: "deletion requests", method: .get, uri: "/v1/accounts/org_acme/deletion-requests", body: { nil }, group: .admin, allowed: .ok),
    ]

    static func expected(_ endpoint: Endpoint, _ caller: Caller) -> HTTPResponse.Status {
        switch (caller, endpoint.group) {
        case (.none, _), (.bad, _), (.revoked, _): .unauthorized
        case (.gateway, .ingest), (.platform, .platform), (.admin, .admin): endpoint.allowed
        case (_, .ingest), (_, .platform): .forbidden
        case (.gateway, .admin), (.platform, .admin), (.member, .admin): .forbidden
        case (.otherAdmin, .admin), (.outsider, .admin): .notFound
        }
    }

    @Test("exact status for every endpoint and caller", arguments: Caller.allCases)
    func statusMatrix(_ caller: Caller) async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            let stored = generation("gen-matrix", ["prompt": Self.secret, "completion": Self.secret, "reasoning": Self.secret])
            #expect(try await client.ingest(stored, token: fixture.gateway).0 == .created)
            for endpoint in Self.endpoints {
                let (status, text) = try await client.execute(
                    uri: endpoint.uri,
                    method: endpoint.method,
                    headers: headers(token: caller.token(fixture), contentType: endpoint.body() == nil ? nil : "application/json"),
                    body: endpoint.body()
                ) { ($0.status, String(buffer: $0.body)) }
                #expect(status == Self.expected(endpoint, caller), "\(caller.rawValue) → \(endpoint.name)")
                if caller != .admin {
                    #expect(!text.contains(Self.secret), "\(caller.rawValue) received content from \(endpoint.name)")
                } else if endpoint.name == "detail" || endpoint.name == "export" {
                    #expect(text.contains(Self.secret))
                }
            }
        }
    }
}
