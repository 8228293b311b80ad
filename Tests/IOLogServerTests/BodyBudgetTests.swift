import Foundation
import HummingbirdTesting
import IOLogCore
import IOLogServer
import Testing

@Suite("The budget of request-body bytes in flight")
struct BodyBudgetTests {
    /// The head of a POST of one generation whose body is `length` bytes, sent before the body.
    private static func head(_ fixture: Fixture, length: Int) -> String {
        "POST /v1/generations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(fixture.gateway)\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(length)\r\nConnection: close\r\n\r\n"
    }

    @Test("past the budget a body is refused 503 with Retry-After on its head alone; nothing of it is stored, and it goes through once bodies finish")
    func refusedPastTheBudget() async throws {
        let fixture = try await Fixture {
            $0.maximumBodyBytes = 4_096
            $0.bodyBudgetBytes = 4_096
        }
        defer { fixture.remove() }
        try await fixture.withApp(mode: .live) { client in
            let port = try #require(client.port)
            // A client that declared 3.9 KB and sends only part of it holds 3.9 KB of the budget.
            let held = generation("gen-held").data
            let padded = Array(held) + Array(repeating: UInt8(ascii: " "), count: 3_900 - held.count)
            let slow = try RawConnection(port: port)
            slow.send(Self.head(fixture, length: padded.count) + String(decoding: padded.prefix(100), as: UTF8.self))
            try await Task.sleep(for: .milliseconds(300))

            // Another body (about 500 bytes) does not fit: 503 with Retry-After. The refusal is
            // decided on the head alone; the body is discarded as it arrives, never collected.
            let refused = generation("gen-refused").data
            let other = try RawConnection(port: port)
            other.send(Self.head(fixture, length: refused.count) + String(decoding: refused, as: UTF8.self))
            let answer = await other.response()
            #expect(answer.hasPrefix("HTTP/1.1 503"), "\(answer.prefix(200))")
            #expect(answer.lowercased().contains("retry-after: 1"))
            #expect(answer.contains("\"overloaded\""))

            // The held body completes and is stored; then the budget is free again.
            slow.send(String(decoding: padded.dropFirst(100), as: UTF8.self))
            #expect(await slow.response().hasPrefix("HTTP/1.1 201"))
            let (status, _) = try await client.ingest(generation("gen-after"), token: fixture.gateway)
            #expect(status == .created)
        }
        let stored = try await fixture.sql("SELECT id FROM generations ORDER BY id").map { $0[0] }
        #expect(stored == ["gen-after", "gen-held"])
    }

    @Test("a chunked body reserves the largest body accepted; bodies without one reserve nothing")
    func chunkedReservesTheMaximum() async throws {
        let fixture = try await Fixture {
            $0.maximumBodyBytes = 4_096
            $0.bodyBudgetBytes = 6_000
        }
        defer { fixture.remove() }
        try await fixture.withApp(mode: .live) { client in
            let port = try #require(client.port)
            let slow = try RawConnection(port: port)
            slow.send(
                "POST /v1/generations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(fixture.gateway)\r\n"
                    + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\n{\"id\"\r\n"
            )
            try await Task.sleep(for: .milliseconds(300))
            // 4,096 reserved of 6,000: a 2.5 KB body does not fit, a GET (no body) does.
            let (status, body) = try await client.ingest(Payload(raw: String(repeating: " ", count: 2_500) + "{}"), token: fixture.gateway)
            #expect(status == .serviceUnavailable)
            #expect(body["error"].flatMap { ($0 as? [String: Any])?["code"] as? String } == "overloaded")
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
            _ = slow
        }
    }

    @Test("without a valid token a body reserves nothing, and a page's form at most 16 KiB: no one can stall ingest unauthenticated")
    func unauthenticatedBodiesHoldNoBudget() async throws {
        let fixture = try await Fixture {
            $0.maximumBodyBytes = 64 * 1024
            $0.bodyBudgetBytes = 64 * 1024
        }
        defer { fixture.remove() }
        try await fixture.withApp(mode: .live) { client in
            let port = try #require(client.port)
            // Trickled bodies: to the API with an unknown token, to the API with none, and a
            // sign-in form that declares the whole budget.
            var held: [RawConnection] = []
            for (path, authorization) in [
                ("/v1/generations", "Authorization: Bearer iolog_gw-00_\(String(repeating: "0", count: 64))\r\n"), ("/v1/generations", ""),
                ("/login", ""),
            ] {
                let connection = try RawConnection(port: port)
                connection.send(
                    "POST \(path) HTTP/1.1\r\nHost: x\r\n\(authorization)Content-Type: application/json\r\n"
                        + "Content-Length: \(64 * 1024)\r\n\r\n{\"id\""
                )
                held.append(connection)
            }
            try await Task.sleep(for: .milliseconds(300))
            // The gateway's body of about 48 KiB still fits: only the form's 16 KiB is held.
            let large = Payload(raw: String(repeating: " ", count: 48 * 1024) + String(decoding: generation("gen-large").data, as: UTF8.self))
            let (status, _) = try await client.ingest(large, token: fixture.gateway)
            #expect(status == .created)
            _ = held
        }
    }

    @Test("serve refuses a budget smaller than the largest body")
    func budgetBelowBodyLimit() async throws {
        let fixture = try await Fixture {
            $0.maximumBodyBytes = 8_192
            $0.bodyBudgetBytes = 4_096
        }
        defer { fixture.remove() }
        await #expect(throws: IOLogError.self) { try await fixture.withApp { _ in } }
    }
}
