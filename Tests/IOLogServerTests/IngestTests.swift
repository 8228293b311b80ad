import Foundation
import Hummingbird
import HummingbirdTesting
import IOLogCore
import IOLogServer
import Testing

@Suite("POST /v1/generations")
struct IngestTests {
    @Test func storedThenDuplicateOnRetryWithNothingDuplicated() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        let body = generation("gen-01JD3X4K7Q")
        try await fixture.withApp { client in
            let (first, firstBody) = try await client.ingest(body, token: fixture.gateway)
            #expect(first == .created)
            #expect(firstBody["id"] as? String == "gen-01JD3X4K7Q")
            #expect(firstBody["status"] as? String == "stored")
            let (again, againBody) = try await client.ingest(body, token: fixture.gateway)
            #expect(again == .ok)
            #expect(againBody["status"] as? String == "duplicate")
        }
        let count = try await fixture.sql("SELECT count(*) FROM generations WHERE id = 'gen-01JD3X4K7Q'")
        #expect(count == [["1"]])
    }

    @Test func sameIdWithOtherContentOrAccountIsAConflict() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            #expect(try await client.ingest(generation("gen-c"), token: fixture.gateway).0 == .created)
            let (changed, changedBody) = try await client.ingest(
                generation("gen-c", ["completion": ["role": "assistant", "content": "5"]]),
                token: fixture.gateway
            )
            #expect(changed == .conflict)
            #expect((changedBody["error"] as? [String: Any])?["code"] as? String == "conflict")
            let (moved, _) = try await client.ingest(generation("gen-c", account: "org_other"), token: fixture.gateway)
            #expect(moved == .conflict)
        }
    }

    @Test func optInBoundaryAndNotOptedInAccounts() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            let atBoundary = generation(["created_at": Fixture.enabledAt.rfc3339])
            #expect(try await client.ingest(atBoundary, token: fixture.gateway).0 == .created)
            let justBefore = generation(["created_at": "2026-10-31T23:59:59.999999Z"])
            let (status, body) = try await client.ingest(justBefore, token: fixture.gateway)
            #expect(status == .accepted)
            #expect(body["status"] as? String == "skipped")
            #expect(body["reason"] as? String == "before_opt_in")
            for account in ["org_off", "org_unknown"] {
                let (offStatus, offBody) = try await client.ingest(generation(account: account), token: fixture.gateway)
                #expect(offStatus == .accepted)
                #expect(offBody["reason"] as? String == "not_opted_in")
            }
        }
    }

    @Test func euAndConfiguredRegionsAreSkippedWhateverTheSetting() async throws {
        let fixture = try await Fixture { $0.extraSkippedRegions = ["us"] }
        defer { fixture.remove() }
        try await fixture.withApp { client in
            for (region, account) in [("eu", "org_acme"), ("us", "org_acme"), ("eu", "org_off")] {
                let (status, body) = try await client.ingest(
                    generation(account: account, ["routing": ["region": region]]),
                    token: fixture.gateway
                )
                #expect(status == .accepted)
                #expect(body["reason"] as? String == "eu_routing")
            }
            let (apac, _) = try await client.ingest(generation(["routing": ["region": "apac"]]), token: fixture.gateway)
            #expect(apac == .created)
            let (noRouting, _) = try await client.ingest(generation(["routing": NSNull()]), token: fixture.gateway)
            #expect(noRouting == .created)
        }
        let regions = try await fixture.sql("SELECT region FROM generations ORDER BY region").map { $0[0] }
        #expect(regions == ["apac", "global"])
    }

    nonisolated(unsafe) static let invalidFields: [(String, [String: Any])] = [
        ("id", ["id": NSNull()]), ("id", ["id": "has space"]), ("id", ["id": String(repeating: "a", count: 129)]),
        ("id", ["id": 42]), ("account_id", ["account_id": NSNull()]), ("account_id", ["account_id": "a/b"]),
        ("user_id", ["user_id": "x y"]), ("api_key_id", ["api_key_id": 7]),
        ("session_id", ["session_id": "a/b"]), ("session_id", ["session_id": 12]), ("created_at", ["created_at": NSNull()]),
        ("created_at", ["created_at": "yesterday"]), ("created_at", ["created_at": "2026-02-30T00:00:00Z"]),
        ("created_at", ["created_at": "2026-11-22T12:05:01Z"]), ("model", ["model": NSNull()]), ("model", ["model": ""]),
        ("provider", ["provider": 3]), ("routing", ["routing": "eu"]), ("routing.region", ["routing": ["region": "EU"]]),
        ("routing.region", ["routing": ["region": 1]]), ("usage", ["usage": [1, 2]]),
        ("usage.prompt_tokens", ["usage": ["prompt_tokens": -1]]),
        ("usage.completion_tokens", ["usage": ["completion_tokens": 1.5]]),
        ("usage.prompt_tokens", ["usage": ["prompt_tokens": "12"]]), ("cost_usd", ["cost_usd": -0.1]),
        ("cost_usd", ["cost_usd": "free"]), ("latency_ms", ["latency_ms": -5]), ("streamed", ["streamed": "yes"]),
        ("finish_reason", ["finish_reason": 1]), ("prompt", ["prompt": NSNull()]),
        ("completion", ["completion": NSNull()]), ("model", ["model": "gpt\u{0}4"]), ("provider", ["provider": "Open\u{1B}[31mAI"]),
        ("model", ["model": "line\nbreak"]), ("model", ["model": "a\u{85}b"]), ("finish_reason", ["finish_reason": "stop\u{202E}pots"]),
    ]

    @Test("every validation error names its field", arguments: 0..<invalidFields.count)
    func validationNamesTheField(index: Int) async throws {
        let (field, change) = Self.invalidFields[index]
        let body = generation(change)
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            let (status, answer) = try await client.ingest(body, token: fixture.gateway)
            #expect(status == .badRequest)
            let error = answer["error"] as? [String: Any]
            #expect(error?["code"] as? String == "invalid_request")
            #expect(error?["field"] as? String == field)
            #expect((error?["message"] as? String)?.isEmpty == false)
        }
    }

    @Test func createdAtUpToFiveMinutesAheadIsAccepted() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            let (status, _) = try await client.ingest(generation(["created_at": "2026-11-22T14:05:00+02:00"]), token: fixture.gateway)
            #expect(status == .created)
        }
    }

    @Test func unknownFieldsAreIgnoredAndBodiesMayBeAnyJSON() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            let prompts: [Any] = ["just a string", 42, ["a": ["b": [1, 2, NSNull()]]], [] as [Any]]
            let bodies = prompts.enumerated().map { index, prompt in
                generation("gen-any-\(index)", ["prompt": prompt, "surprise": ["x": 1], "reasoning": "thought"])
            }
            for body in bodies {
                let (status, _) = try await client.ingest(body, token: fixture.gateway)
                #expect(status == .created)
            }
        }
    }

    @Test("an account ingest token posts for its own account only, singly and in batches, and reads nothing")
    func ingestTokensAreBoundToTheirAccount() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            #expect(try await client.ingest(generation("gen-own"), token: fixture.ingest).0 == .created)
            #expect(try await client.ingest(generation("gen-own"), token: fixture.ingest).0 == .ok)
            for account in ["org_other", "org_off", "org_ghost"] {
                let (status, body) = try await client.ingest(generation("gen-\(account)", account: account), token: fixture.ingest)
                #expect(status == .forbidden, "\(account)")
                let error = body["error"] as? [String: Any]
                #expect(error?["code"] as? String == "forbidden")
                #expect(error?["message"] as? String == "this token may ingest for account org_acme only")
            }
            let batch = try await client.execute(
                uri: "/v1/generations/batch",
                method: .post,
                headers: headers(token: fixture.ingest),
                body: Payload.batch([generation("gen-b1"), generation("gen-b2", account: "org_other"), generation("gen-b3")]).buffer
            ) { response in (response.status, try jsonObject(response)) }
            #expect(batch.0 == .ok)
            let results = batch.1["results"] as? [[String: Any]] ?? []
            #expect(results.map { $0["status"] as? String } == ["stored", "error", "stored"])
            #expect((results[1]["error"] as? [String: Any])?["code"] as? String == "forbidden")
            #expect((results[1]["error"] as? [String: Any])?["field"] as? String == "account_id")
            // It may not read, nor act as the platform.
            for (uri, method) in [
                ("/v1/accounts/org_acme/generations", HTTPRequest.Method.get), ("/v1/accounts/org_acme/settings", .get),
                ("/v1/accounts/org_acme/export", .get),
            ] {
                let status = try await client.execute(uri: uri, method: method, headers: headers(token: fixture.ingest)) { $0.status }
                #expect(status == .forbidden, "\(uri)")
            }
            let sync = try await client.execute(
                uri: "/v1/accounts/org_new",
                method: .put,
                headers: headers(token: fixture.ingest),
                body: try jsonBuffer(["kind": "organization", "name": "New"])
            ) { $0.status }
            #expect(sync == .forbidden)
        }
        let stored = try await fixture.sql("SELECT id FROM generations ORDER BY id").map { $0[0] }
        #expect(stored == ["gen-b1", "gen-b3", "gen-own"])
    }

    @Test func tokensOtherThanTheGatewaysAreRefused() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            for (token, expected) in [
                (nil, HTTPResponse.Status.unauthorized), ("nonsense", .unauthorized), (fixture.revoked, .unauthorized),
                (fixture.gateway + "x", .unauthorized), (fixture.platform, .forbidden), (fixture.admin, .forbidden),
                (fixture.member, .forbidden),
            ] {
                let status = try await client.execute(
                    uri: "/v1/generations",
                    method: .post,
                    headers: headers(token: token),
                    body: generation().buffer
                ) { response in
                    if response.status == .unauthorized { #expect(response.headers[.wwwAuthenticate] == "Bearer") }
                    return response.status
                }
                #expect(status == expected, "token \(token ?? "none")")
            }
        }
    }

    @Test func bodiesThatAreNotJSONOrTooLargeAreRefused() async throws {
        let fixture = try await Fixture { $0.maximumBodyBytes = 4096 }
        defer { fixture.remove() }
        try await fixture.withApp { client in
            let json = generation().buffer
            for (contentType, body, expected) in [
                ("text/plain", json, HTTPResponse.Status.unsupportedMediaType),
                (nil, json, .unsupportedMediaType),
                ("application/json; charset=utf-8", json, .created),
                ("application/json", ByteBuffer(string: "{not json"), .badRequest),
                ("application/json", ByteBuffer(string: "[1,2]"), .badRequest),
                ("application/json", generation(["prompt": String(repeating: "x", count: 5000)]).buffer, .contentTooLarge),
            ] {
                let (status, code) = try await client.execute(
                    uri: "/v1/generations",
                    method: .post,
                    headers: headers(token: fixture.gateway, contentType: contentType),
                    body: body
                ) { ($0.status, (try? jsonObject($0)["error"] as? [String: Any])?["code"] as? String) }
                #expect(status == expected)
                if expected == .contentTooLarge { #expect(code == "payload_too_large") }
                if expected == .unsupportedMediaType { #expect(code == "unsupported_media_type") }
            }
        }
    }
}

@Suite("POST /v1/generations/batch")
struct BatchIngestTests {
    @Test func eachItemIsJudgedOnItsOwnInOrder() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            #expect(try await client.ingest(generation("gen-existing"), token: fixture.gateway).0 == .created)
            let body = Payload.batch([
                generation("gen-b1"), generation("gen-existing"), generation("gen-b3", ["routing": ["region": "eu"]]),
                generation("gen-b4", ["cost_usd": -1]), Payload(raw: "\"not an object\""),
                generation("gen-existing", ["model": "other/model"]), generation("gen-b1"),
            ]).buffer
            try await client.execute(uri: "/v1/generations/batch", method: .post, headers: headers(token: fixture.gateway), body: body) {
                response in
                #expect(response.status == .ok)
                let results = try #require(try jsonObject(response)["results"] as? [[String: Any]])
                #expect(results.map { $0["status"] as? String } == ["stored", "duplicate", "skipped", "error", "error", "error", "duplicate"])
                #expect(results.map { $0["id"] as? String } == ["gen-b1", "gen-existing", "gen-b3", "gen-b4", nil, "gen-existing", "gen-b1"])
                #expect(results[2]["reason"] as? String == "eu_routing")
                #expect((results[3]["error"] as? [String: Any])?["field"] as? String == "cost_usd")
                #expect((results[5]["error"] as? [String: Any])?["code"] as? String == "conflict")
            }
        }
        let ids = try await fixture.sql("SELECT id FROM generations ORDER BY id").map { $0[0] }
        #expect(ids == ["gen-b1", "gen-existing"])
    }

    @Test func batchesAreLimitedToAThousand() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            let tooMany = Payload.batch((0...1000).map { generation("gen-\($0)") })
            let status = try await client.execute(
                uri: "/v1/generations/batch",
                method: .post,
                headers: headers(token: fixture.gateway),
                body: tooMany.buffer
            ) { $0.status }
            #expect(status == .badRequest)
            let full = Payload.batch((0..<1000).map { generation("gen-\($0)") })
            try await client.execute(
                uri: "/v1/generations/batch",
                method: .post,
                headers: headers(token: fixture.gateway),
                body: full.buffer
            ) { response in
                #expect(response.status == .ok)
                let results = try #require(try jsonObject(response)["results"] as? [[String: Any]])
                #expect(results.count == 1000)
                #expect(results.allSatisfy { $0["status"] as? String == "stored" })
            }
            for bad in [#"{"generations":"x"}"#, #"{"nope":[]}"#] {
                let status = try await client.execute(
                    uri: "/v1/generations/batch",
                    method: .post,
                    headers: headers(token: fixture.gateway),
                    body: ByteBuffer(string: bad)
                ) { $0.status }
                #expect(status == .badRequest)
            }
        }
    }
}
