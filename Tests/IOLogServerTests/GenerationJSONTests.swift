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

    @Test("the list's bytes equal the canonical text of the summary's JSON value, with every field set or absent")
    func sameBytesAsTheValue() {
        let samples = [
            Self.summary { _ in },
            Self.summary {
                $0.userID = "user_42"
                $0.apiKeyID = "key-1"
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
            #expect(summary.jsonBytes == summary.json.canonicalBytes)
        }
    }
}
