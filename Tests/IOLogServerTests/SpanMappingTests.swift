import Foundation
import IOLogCore
import IOLogOTLP
import Testing

/// The span → generation mapping, case by case (DESIGN §4.5).
@Suite("Which spans are generations, and how they map")
struct SpanMappingTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let spanName: String
        let attributes: [(String, String)]
        /// Expected fields of the generation object (a JSON-ish value each), or nil: not a generation.
        let expected: [String: JSONValue]?
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "plain HTTP span", spanName: "GET /", attributes: [("http.method", "GET")], expected: nil),
        Case(
            name: "GenAI embeddings are not generations",
            spanName: "embeddings",
            attributes: [("gen_ai.operation.name", "embeddings"), ("gen_ai.input.messages", "[]")],
            expected: nil
        ),
        Case(
            name: "GenAI text_completion with plain-text content",
            spanName: "text_completion m",
            attributes: [
                ("gen_ai.operation.name", "text_completion"), ("gen_ai.request.model", "m1"), ("gen_ai.system", "acme"),
                ("gen_ai.input.messages", "Once upon"), ("gen_ai.output.messages", "a time"), ("gen_ai.response.id", "bad id!"),
            ],
            expected: [
                "model": .string("m1"), "provider": .string("acme"), "prompt": .string("Once upon"), "completion": .string("a time"),
                "id": .string("otlp-0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a-0b0b0b0b0b0b0b0b"),
            ]
        ),
        Case(
            name: "GenAI generate_content, response model wins over request model",
            spanName: "generate_content",
            attributes: [
                ("gen_ai.operation.name", "generate_content"), ("gen_ai.request.model", "gemini"),
                ("gen_ai.response.model", "gemini-2.5-pro-001"), ("gen_ai.provider.name", "gcp.gemini"),
                ("gen_ai.input.messages", #"[{"role":"user","parts":[]}]"#), ("gen_ai.output.messages", #"[]"#),
                ("gen_ai.conversation.id", "conv 1"),
            ],
            expected: [
                "model": .string("gemini-2.5-pro-001"), "provider": .string("gcp.gemini"),
                "session_id": .string(SpanMapping.storedID("conv 1")), "completion": .array([]),
            ]
        ),
        Case(
            name: "gen_ai.prompt on a span that is not a Broadcast root does not make it a generation",
            spanName: "LLM Generation (child)",
            attributes: [("gen_ai.prompt", "[]")],
            expected: nil
        ),
        Case(
            name: "OpenInference LLM, lower case kind",
            spanName: "llm",
            attributes: [
                ("openinference.span.kind", "llm"), ("llm.model_name", "mistral"), ("input.value", "hi"), ("output.value", "yo"),
                ("iolog.routing.region", "eu"),
            ],
            expected: [
                "model": .string("mistral"), "provider": .string("unknown"), "routing": .object(["region": .string("eu")]),
                "prompt": .string("hi"),
            ]
        ),
        Case(
            name: "OpenInference CHAIN spans are not generations",
            spanName: "chain",
            attributes: [("openinference.span.kind", "CHAIN"), ("input.value", "hi"), ("output.value", "yo")],
            expected: nil
        ),
    ]

    static func span(_ testCase: Case) -> OTLPSpan {
        var span = OTLPSpan()
        span.traceID = Data(repeating: 10, count: 16)
        span.spanID = Data(repeating: 11, count: 8)
        span.name = testCase.spanName
        span.startTimeUnixNano = 1_795_330_800_000_000_000
        span.endTimeUnixNano = 1_795_330_800_250_000_000
        span.attributes = testCase.attributes.map { key, value in
            var pair = OTLPKeyValue()
            pair.key = key
            pair.value.stringValue = value
            return pair
        }
        return span
    }

    @Test("one span", arguments: cases)
    func mapsOneSpan(_ testCase: Case) throws {
        var scope = Opentelemetry_Proto_Trace_V1_ScopeSpans()
        scope.spans = [Self.span(testCase)]
        var resource = Opentelemetry_Proto_Trace_V1_ResourceSpans()
        resource.scopeSpans = [scope]
        var request = ExportTraceServiceRequest()
        request.resourceSpans = [resource]
        let outcomes = SpanMapping.map(request, account: "org_a")
        #expect(outcomes.count == 1)
        guard let expected = testCase.expected else {
            #expect(outcomes.first == .ignored)
            return
        }
        guard case .generation(let value, _)? = outcomes.first else {
            Issue.record("not a generation: \(String(describing: outcomes.first))")
            return
        }
        for (key, field) in expected { #expect(value[key] == field, "\(key)") }
        #expect(value["account_id"] == .string("org_a"))
        #expect(value["latency_ms"] == .integer(250))
        #expect(value["created_at"] == .string("2026-11-22T07:00:00.000000Z"))
        // What the mapping makes is what ingest takes, field for field.
        let input = try GenerationInput.parse(value, now: Timestamp(micros: 1_795_330_900_000_000))
        #expect(input.accountID == "org_a")
        // No attribute outside the mapping reaches the object.
        let known: Set<String> = [
            "id", "account_id", "created_at", "model", "provider", "prompt", "completion", "latency_ms", "usage", "cost_usd",
            "finish_reason", "user_id", "session_id", "api_key_id", "routing",
        ]
        if case .object(let members) = value { #expect(Set(members.keys).isSubset(of: known)) }
    }

    @Test("hex ids of OTLP/JSON are read as the bytes they spell; base64 ids are kept")
    func jsonIdentifiers() throws {
        let hex =
            #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","parentSpanId":"0102030405060708"}]}]}]}"#
        let span = try TraceCodec.decodeRequest(Array(hex.utf8), as: .json).resourceSpans[0].scopeSpans[0].spans[0]
        #expect(span.traceID == Data([0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c]))
        #expect(span.spanID == Data([0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74]))
        #expect(span.parentSpanID == Data([1, 2, 3, 4, 5, 6, 7, 8]))
        let base64 = #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"AQIDBAUGBwgJCgsMDQ4PEA==","spanId":"AQIDBAUGBwg="}]}]}]}"#
        let kept = try TraceCodec.decodeRequest(Array(base64.utf8), as: .json).resourceSpans[0].scopeSpans[0].spans[0]
        #expect(kept.traceID == Data(1...16))
        #expect(kept.spanID == Data(1...8))
    }
}
