import IOLogCore
import Testing

@testable import IOLogServer

@Suite("Generation JSON written member by member")
struct GenerationJSONTests {
    private static func summary(_ change: (inout SealedGeneration) -> Void) -> GenerationSummary {
        var sealed = SealedGeneration(
            id: "gen-1",
            accountID: "org_acme",
            createdAt: Timestamp(micros: 1_764_000_000_123_456),
            storedAt: Timestamp(micros: 1_764_000_000_200_000),
            model: "openai/gpt-4o",
            provider: "Open\"AI",
            region: "global",
            contentMAC: [1],
            promptSealed: [2],
            completionSealed: [3]
        )
        change(&sealed)
        return GenerationSummary(sealed)
    }

    /// The metadata as the API documents it, as a value (absent fields are `null`).
    private static func expected(_ s: GenerationSummary) -> JSONValue {
        func optional<T>(_ value: T?, _ wrap: (T) -> JSONValue) -> JSONValue { value.map(wrap) ?? .null }
        let m = s.metadata
        return .object([
            "id": .string(s.id), "account_id": .string(s.accountID), "created_at": .string(m.createdAt.rfc3339),
            "user_id": optional(m.userID, JSONValue.string), "api_key_id": optional(m.apiKeyID, JSONValue.string),
            "session_id": optional(m.sessionID, JSONValue.string),
            "model": .string(m.model), "provider": .string(m.provider), "region": .string(m.region),
            "usage": .object([
                "prompt_tokens": optional(m.promptTokens, JSONValue.integer),
                "completion_tokens": optional(m.completionTokens, JSONValue.integer),
            ]),
            "cost_usd": optional(m.costUSD, JSONValue.double), "latency_ms": optional(m.latencyMilliseconds, JSONValue.integer),
            "finish_reason": optional(m.finishReason, JSONValue.string), "streamed": optional(m.streamed, JSONValue.bool),
            "has_reasoning": .bool(s.hasReasoning),
        ])
    }

    @Test("the list's bytes equal the canonical text of the summary's JSON value, with every field set or absent")
    func sameBytesAsTheValue() {
        let samples = [
            Self.summary { _ in },
            Self.summary {
                $0.userID = "user_42"
                $0.apiKeyID = "key-1"
                $0.sessionID = "chat-7"
                $0.promptTokens = 1200
                $0.completionTokens = 350
                $0.costUSD = 0.004125
                $0.latencyMilliseconds = 812
                $0.finishReason = "stop"
                $0.streamed = true
                $0.reasoningSealed = [4]
            },
        ]
        for summary in samples {
            #expect(summary.jsonBytes == Self.expected(summary).canonicalBytes)
        }
    }
}
