import Foundation
import Hummingbird
import HummingbirdTesting
import IOLogCore
import IOLogOTLP
import IOLogTestSupport
import Testing

@testable import IOLogServer

/// `POST /v1/traces` (DESIGN §4.5): OTLP/HTTP exports in protobuf and JSON, gzip, the three span
/// conventions, the account binding, and the rules of ingest unchanged.
@Suite("OTLP trace ingest")
struct TracesTests {
    static let traceID = Data((0..<16).map { UInt8($0 + 1) })

    static func attribute(_ key: String, _ value: Any) -> OTLPKeyValue {
        var pair = OTLPKeyValue()
        pair.key = key
        switch value {
        case let text as String: pair.value.stringValue = text
        case let number as Int: pair.value.intValue = Int64(number)
        case let number as Double: pair.value.doubleValue = number
        case let list as [String]:
            pair.value.arrayValue.values = list.map { item in
                var value = OTLPAnyValue()
                value.stringValue = item
                return value
            }
        default: Issue.record("unsupported attribute value")
        }
        return pair
    }

    /// One export with one resource (its attributes) and these spans.
    static func export(resource: [OTLPKeyValue] = [], _ spans: [OTLPSpan]) -> ExportTraceServiceRequest {
        var scope = Opentelemetry_Proto_Trace_V1_ScopeSpans()
        scope.spans = spans
        var resourceSpans = Opentelemetry_Proto_Trace_V1_ResourceSpans()
        resourceSpans.resource.attributes = resource
        resourceSpans.scopeSpans = [scope]
        var request = ExportTraceServiceRequest()
        request.resourceSpans = [resourceSpans]
        return request
    }

    static func span(_ id: UInt8, name: String = "chat gpt-4o", parent: UInt8? = nil, _ attributes: [OTLPKeyValue]) -> OTLPSpan {
        var span = OTLPSpan()
        span.traceID = traceID
        span.spanID = Data(repeating: id, count: 8)
        if let parent { span.parentSpanID = Data(repeating: parent, count: 8) }
        span.name = name
        span.startTimeUnixNano = 1_795_330_800_123_000_000  // 2026-11-22T07:00:00.123Z
        span.endTimeUnixNano = 1_795_330_800_935_000_000
        span.attributes = attributes
        return span
    }

    /// A GenAI-convention chat span whose content carries the fixture's body marker.
    static func genAISpan(_ id: UInt8, responseID: String, extra: [OTLPKeyValue] = []) -> OTLPSpan {
        span(
            id,
            [
                attribute("gen_ai.operation.name", "chat"), attribute("gen_ai.request.model", "gpt-4o"),
                attribute("gen_ai.response.model", "gpt-4o-2024-08-06"), attribute("gen_ai.provider.name", "openai"),
                attribute("gen_ai.response.id", responseID), attribute("gen_ai.usage.input_tokens", 12),
                attribute("gen_ai.usage.output_tokens", 3), attribute("gen_ai.response.finish_reasons", ["stop"]),
                attribute("gen_ai.system_instructions", #"[{"type":"text","content":"Be brief."}]"#),
                attribute(
                    "gen_ai.input.messages",
                    #"[{"role":"user","parts":[{"type":"text","content":"Hi \#(Fixture.bodyMarker)"}]}]"#
                ),
                attribute("gen_ai.output.messages", #"[{"role":"assistant","parts":[{"type":"text","content":"Hello"}],"finish_reason":"stop"}]"#),
                attribute("session.id", "chat-9"), attribute("user.id", "alice@example.com"), attribute("http.url", "https://secret.example/"),
            ] + extra
        )
    }

    private func post(
        _ client: some TestClientProtocol,
        _ body: [UInt8],
        token: String?,
        contentType: String = "application/x-protobuf",
        encoding: String? = nil
    ) async throws -> (HTTPResponse.Status, ByteBuffer) {
        var fields = headers(token: token, contentType: contentType)
        if let encoding { fields[.contentEncoding] = encoding }
        return try await client.execute(uri: "/v1/traces", method: .post, headers: fields, body: ByteBuffer(bytes: body)) {
            ($0.status, $0.body)
        }
    }

    private func response(_ buffer: ByteBuffer, json: Bool = false) throws -> ExportTraceServiceResponse {
        json
            ? try ExportTraceServiceResponse(jsonUTF8Bytes: Array(buffer.readableBytesView))
            : try ExportTraceServiceResponse(serializedBytes: Array(buffer.readableBytesView))
    }

    @Test("GenAI spans in protobuf, gzipped or not: stored under gen_ai.response.id, read back equal; other attributes dropped")
    func genAIProtobuf() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            let request = Self.export(
                resource: [Self.attribute("iolog.account_id", "org_acme"), Self.attribute("service.name", "shop")],
                [Self.genAISpan(1, responseID: "chatcmpl-A1"), Self.span(2, name: "GET /cart", [Self.attribute("http.method", "GET")])]
            )
            let (status, body) = try await post(client, try request.serializedBytes(), token: fixture.gateway)
            #expect(status == .ok)
            #expect(try response(body).hasPartialSuccess == false)

            let (_, detail) = try await client.execute(
                uri: "/v1/accounts/org_acme/generations/chatcmpl-A1",
                method: .get,
                headers: headers(token: fixture.admin)
            ) { ($0.status, try jsonObject($0)) }
            #expect(detail["model"] as? String == "gpt-4o-2024-08-06")
            #expect(detail["provider"] as? String == "openai")
            #expect(detail["created_at"] as? String == "2026-11-22T07:00:00.123000Z")
            #expect(detail["latency_ms"] as? Int == 812)
            #expect(detail["finish_reason"] as? String == "stop")
            #expect(detail["session_id"] as? String == "chat-9")
            #expect(detail["user_id"] as? String == SpanMapping.storedID("alice@example.com"))
            #expect((detail["user_id"] as? String)?.hasPrefix("sha256:") == true)
            #expect((detail["usage"] as? [String: Any])?["prompt_tokens"] as? Int == 12)
            let prompt = try #require(detail["prompt"] as? [String: Any])
            let messages = try #require(prompt["messages"] as? [[String: Any]])
            let part = (messages.first?["parts"] as? [[String: Any]])?.first
            #expect(part?["content"] as? String == "Hi \(Fixture.bodyMarker)")
            #expect(((prompt["system_instructions"] as? [[String: Any]])?.first)?["content"] as? String == "Be brief.")
            #expect(((detail["completion"] as? [[String: Any]])?.first)?["role"] as? String == "assistant")

            // The same export again, gzipped: a duplicate, not a second row.
            let plain: [UInt8] = try request.serializedBytes()
            var gzipped = try await Self.gzip(plain)
            let (again, _) = try await post(client, gzipped, token: fixture.gateway, encoding: "gzip")
            #expect(again == .ok)
            gzipped[gzipped.count / 2] ^= 0xFF
            #expect(try await post(client, gzipped, token: fixture.gateway, encoding: "gzip").0 == .badRequest)
        }
        #expect(try await fixture.sql("SELECT count(*) FROM generations").first?.first == "1")
        // Attributes outside the mapping are stored nowhere, not even sealed.
        #expect(try await fixture.sql("SELECT count(*) FROM generations WHERE model LIKE '%secret.example%'").first?.first == "0")
    }

    /// An OpenRouter Broadcast trace as OTLP/JSON: the root `LLM Generation` span with the
    /// prompt and completion as JSON text, and a child span per provider attempt; ids in hex,
    /// numbers as strings, as OTLP/JSON writes them.
    static let broadcastJSON = """
        {"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"openrouter"}},
        {"key":"iolog.account_id","value":{"stringValue":"org_acme"}}]},
        "scopeSpans":[{"scope":{"name":"openrouter"},"spans":[
        {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"LLM Generation","kind":1,
         "startTimeUnixNano":"1795330800123000000","endTimeUnixNano":"1795330801123000000","flags":256,
         "attributes":[
          {"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},
          {"key":"gen_ai.request.model","value":{"stringValue":"anthropic/claude-sonnet-4.5"}},
          {"key":"gen_ai.response.model","value":{"stringValue":"anthropic/claude-sonnet-4.5"}},
          {"key":"gen_ai.response.id","value":{"stringValue":"gen-1763794800-abcDEF"}},
          {"key":"gen_ai.usage.input_tokens","value":{"intValue":"1200"}},
          {"key":"gen_ai.usage.output_tokens","value":{"intValue":"350"}},
          {"key":"gen_ai.usage.cost","value":{"doubleValue":0.004125}},
          {"key":"gen_ai.response.finish_reasons","value":{"arrayValue":{"values":[{"stringValue":"stop"}]}}},
          {"key":"gen_ai.prompt","value":{"stringValue":"[{\\"role\\":\\"user\\",\\"content\\":\\"Bonjour BROADCAST-MARKER\\"}]"}},
          {"key":"gen_ai.completion","value":{"stringValue":"[{\\"role\\":\\"assistant\\",\\"content\\":\\"Salut\\"}]"}},
          {"key":"trace.metadata.openrouter.provider_name","value":{"stringValue":"Anthropic"}},
          {"key":"trace.metadata.openrouter.api_key_name","value":{"stringValue":"Production key"}},
          {"key":"user.id","value":{"stringValue":"user_42"}},
          {"key":"session.id","value":{"stringValue":"conv-7"}}],
         "events":[],"links":[],"status":{"code":1}},
        {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"0102030405060708","parentSpanId":"eee19b7ec3c1b174",
         "name":"Anthropic attempt","startTimeUnixNano":"1795330800200000000","endTimeUnixNano":"1795330801000000000",
         "attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},
          {"key":"gen_ai.provider.name","value":{"stringValue":"anthropic"}}]}
        ]}]}]}
        """

    @Test("an OpenRouter Broadcast JSON trace is one generation with its id, model, provider, tokens, cost, user and session")
    func broadcastJSON() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            for _ in 0..<2 {
                let (status, body) = try await post(client, Array(Self.broadcastJSON.utf8), token: fixture.ingest, contentType: "application/json")
                #expect(status == .ok)
                #expect(String(buffer: body) == "{}")
            }
            let (_, detail) = try await client.execute(
                uri: "/v1/accounts/org_acme/generations/gen-1763794800-abcDEF",
                method: .get,
                headers: headers(token: fixture.admin)
            ) { ($0.status, try jsonObject($0)) }
            #expect(detail["model"] as? String == "anthropic/claude-sonnet-4.5")
            #expect(detail["provider"] as? String == "Anthropic")
            #expect(detail["user_id"] as? String == "user_42")
            #expect(detail["session_id"] as? String == "conv-7")
            #expect(detail["api_key_id"] as? String == SpanMapping.storedID("Production key"))
            #expect(detail["cost_usd"] as? Double == 0.004125)
            #expect(detail["latency_ms"] as? Int == 1000)
            #expect((detail["usage"] as? [String: Any])?["completion_tokens"] as? Int == 350)
            #expect(((detail["prompt"] as? [[String: Any]])?.first)?["content"] as? String == "Bonjour BROADCAST-MARKER")
            #expect(((detail["completion"] as? [[String: Any]])?.first)?["content"] as? String == "Salut")
        }
        // Once: the child span is not a generation, and the second post was a duplicate.
        #expect(try await fixture.sql("SELECT id FROM generations").map { $0[0] } == ["gen-1763794800-abcDEF"])
    }

    @Test("OpenInference LLM spans, ids derived from trace and span when there is no response id")
    func openInference() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        let span = Self.span(
            9,
            name: "ChatCompletion",
            [
                Self.attribute("openinference.span.kind", "LLM"), Self.attribute("llm.model_name", "gpt-4o-mini"),
                Self.attribute("llm.provider", "openai"), Self.attribute("llm.token_count.prompt", 7),
                Self.attribute("llm.token_count.completion", 2), Self.attribute("input.value", #"{"messages":[{"role":"user","content":"2+2?"}]}"#),
                Self.attribute("output.value", "4"),
            ]
        )
        try await fixture.withApp { client in
            let (status, _) = try await post(client, try Self.export([span]).serializedBytes(), token: fixture.ingest)
            #expect(status == .ok)
        }
        let id = "otlp-0102030405060708090a0b0c0d0e0f10-0909090909090909"
        let rows = try await fixture.sql("SELECT id, model, provider, prompt_tokens, completion_tokens FROM generations")
        #expect(rows == [[id, "gpt-4o-mini", "openai", "7", "2"]])
    }

    @Test("EU spans and accounts without logging are skipped, another account's span rejected, none of it written")
    func rulesHold() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            let eu = Self.genAISpan(1, responseID: "gen-eu", extra: [Self.attribute("iolog.routing.region", "eu")])
            let off = Self.genAISpan(2, responseID: "gen-off", extra: [Self.attribute("iolog.account_id", "org_off")])
            let other = Self.genAISpan(3, responseID: "gen-other", extra: [Self.attribute("iolog.account_id", "org_other")])
            let noAccount = Self.genAISpan(4, responseID: "gen-nowhere")
            let noContent = Self.span(5, [Self.attribute("gen_ai.operation.name", "chat"), Self.attribute("iolog.account_id", "org_acme")])
            let request = Self.export(resource: [Self.attribute("iolog.account_id", "org_acme")], [eu, off, other, noContent])
            // The gateway's token: EU and logging-off are skipped by rule, not rejected.
            let (status, body) = try await post(client, try request.serializedBytes(), token: fixture.gateway)
            #expect(status == .ok)
            let answer = try response(body)
            #expect(answer.partialSuccess.rejectedSpans == 1)
            #expect(answer.partialSuccess.errorMessage.contains("without its prompt and completion"))
            // An ingest token of org_acme: the span of org_other is rejected, in JSON too.
            let json: [UInt8] = try Self.export([other]).jsonUTF8Bytes()
            let (jsonStatus, jsonBody) = try await post(client, json, token: fixture.ingest, contentType: "application/json")
            #expect(jsonStatus == .ok)
            let rejected = try response(jsonBody, json: true)
            #expect(rejected.partialSuccess.rejectedSpans == 1)
            #expect(rejected.partialSuccess.errorMessage.contains("may ingest for account org_acme only"))
            // No account at all with the gateway's token.
            let (_, lost) = try await post(client, try Self.export([noAccount]).serializedBytes(), token: fixture.gateway)
            #expect(try response(lost).partialSuccess.errorMessage.contains("no iolog.account_id"))
            #expect(!(try response(lost).partialSuccess.errorMessage.contains(Fixture.bodyMarker)))
        }
        #expect(try await fixture.sql("SELECT id FROM generations ORDER BY id").map { $0[0] } == ["gen-other"])
    }

    @Test("refusals: content types, encodings, undecodable bodies, a gzip bomb, tokens that may not ingest")
    func refusals() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            let valid: [UInt8] = try Self.export([Self.genAISpan(1, responseID: "gen-r")]).serializedBytes()
            #expect(try await post(client, valid, token: nil).0 == .unauthorized)
            #expect(try await post(client, valid, token: fixture.admin).0 == .forbidden)
            #expect(try await post(client, valid, token: fixture.platform).0 == .forbidden)
            #expect(try await post(client, valid, token: fixture.ingest, contentType: "text/plain").0 == .unsupportedMediaType)
            #expect(try await post(client, valid, token: fixture.ingest, encoding: "br").0 == .unsupportedMediaType)
            #expect(try await post(client, [0xFF, 0xFF, 0xFF], token: fixture.ingest).0 == .badRequest)
            #expect(
                try await post(client, Array("{\"resourceSpans\": 5}".utf8), token: fixture.ingest, contentType: "application/json").0 == .badRequest
            )
            // 20 MiB of zeros gzip to about 20 KiB: refused at the 16 MiB limit while inflating.
            let bomb = try await Self.gzip([UInt8](repeating: 0, count: 20 * 1024 * 1024))
            #expect(bomb.count < 1024 * 1024)
            #expect(try await post(client, bomb, token: fixture.ingest, encoding: "gzip").0 == .contentTooLarge)
        }
        #expect(try await fixture.sql("SELECT count(*) FROM generations").first?.first == "0")
    }

    @Test("the stored id of a trace's user or session: itself in the id alphabet, else sha256 of it, filterable")
    func storedIDs() async throws {
        #expect(SpanMapping.storedID("user_42") == "user_42")
        let email = SpanMapping.storedID("alice@example.com")
        #expect(email == "sha256:ff8d9819fc0e12bf0d24892e45987e24")
        #expect(Identifier.isValid(email))
        #expect(SpanMapping.storedID(String(repeating: "a", count: 129)).hasPrefix("sha256:"))
        let fixture = try await Fixture()
        defer { fixture.remove() }
        try await fixture.withApp { client in
            let request = Self.export(resource: [Self.attribute("iolog.account_id", "org_acme")], [Self.genAISpan(1, responseID: "gen-u")])
            #expect(try await post(client, try request.serializedBytes(), token: fixture.gateway).0 == .ok)
            let (status, list) = try await client.execute(
                uri: "/v1/accounts/org_acme/generations?user_id=\(email)",
                method: .get,
                headers: headers(token: fixture.admin)
            ) { ($0.status, try jsonObject($0)) }
            #expect(status == .ok)
            #expect((list["data"] as? [[String: Any]])?.map { $0["id"] as? String } == ["gen-u"])
        }
        #expect(try await fixture.sql("SELECT count(*) FROM generations WHERE user_id LIKE '%example.com%'").first?.first == "0")
    }

    /// gzip through the system's `gzip`, so the test does not check zlib with zlib; awaited
    /// off the cooperative pool.
    static func gzip(_ bytes: [UInt8]) async throws -> [UInt8] {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("iolog-gzip-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("body")
        try Data(bytes).write(to: file)
        let process = try ChildProcess(executable: "/bin/gzip", arguments: ["-n", file.path], environment: [:])
        #expect(await process.exited() == 0)
        return Array(try Data(contentsOf: folder.appendingPathComponent("body.gz")))
    }
}
