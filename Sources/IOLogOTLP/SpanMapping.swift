import Foundation
import IOLogCore

/// Which spans of an OTLP export are generations, and the generation each one is (DESIGN §4.5).
///
/// A span becomes the same JSON object the gateway posts to `/v1/generations` (§4.1), so every
/// rule of ingest applies to it unchanged: validation, opt-in, regions, erasure boundaries,
/// duplicates, sealing. Content attributes become the sealed prompt and completion; the
/// metadata is read from the attributes named below; every other attribute is dropped.
public enum SpanMapping {
    /// The conventions a generation span can follow.
    public enum Convention: String, Sendable {
        /// OpenTelemetry GenAI semantic conventions: `gen_ai.operation.name` chat,
        /// text_completion or generate_content.
        case genAI = "gen_ai"
        /// OpenRouter Broadcast: the root span `LLM Generation` with `gen_ai.prompt` and
        /// `gen_ai.completion` as JSON text; its child spans (provider attempts) are not generations.
        case broadcast = "openrouter_broadcast"
        /// OpenInference: `openinference.span.kind` = LLM.
        case openInference = "openinference"
    }

    /// What became of one span.
    public enum Outcome: Sendable, Equatable {
        /// A generation, as the object `/v1/generations` takes.
        case generation(JSONValue, Convention)
        /// Not a generation: ignored, counted, not rejected.
        case ignored
        /// A generation that cannot be taken; the reason names no content.
        case rejected(String)
    }

    /// The span's name of a Broadcast generation.
    static let broadcastSpanName = "LLM Generation"
    static let generationOperations: Set<String> = ["chat", "text_completion", "generate_content"]

    /// Every span of `request`, in order. The account is `iolog.account_id` (span, then
    /// resource), else `account`, the ingest token's (whose ingest refuses any other).
    public static func map(_ request: ExportTraceServiceRequest, account: String?) -> [Outcome] {
        // Traces that carry a Broadcast generation: only its root span counts in them.
        var broadcastTraces = Set<Data>()
        for resource in request.resourceSpans {
            for scope in resource.scopeSpans {
                for span in scope.spans where isBroadcastRoot(span) { broadcastTraces.insert(span.traceID) }
            }
        }
        var outcomes: [Outcome] = []
        for resource in request.resourceSpans {
            let resourceAttributes = Attributes(resource.resource.attributes)
            for scope in resource.scopeSpans {
                for span in scope.spans {
                    let attributes = Attributes(span.attributes, fallback: resourceAttributes)
                    let convention: Convention?
                    if isBroadcastRoot(span) {
                        convention = .broadcast
                    } else if broadcastTraces.contains(span.traceID) {
                        convention = nil
                    } else {
                        convention = classify(attributes)
                    }
                    guard let convention else {
                        outcomes.append(.ignored)
                        continue
                    }
                    outcomes.append(generation(span, attributes, convention, account: account))
                }
            }
        }
        return outcomes
    }

    static func isBroadcastRoot(_ span: OTLPSpan) -> Bool {
        span.name == broadcastSpanName && span.parentSpanID.isEmpty
            && span.attributes.contains { $0.key == "gen_ai.prompt" || $0.key == "gen_ai.completion" }
    }

    static func classify(_ attributes: Attributes) -> Convention? {
        if attributes.string("openinference.span.kind", spanOnly: true)?.uppercased() == "LLM" { return .openInference }
        if let operation = attributes.string("gen_ai.operation.name", spanOnly: true), generationOperations.contains(operation) {
            return .genAI
        }
        return nil
    }

    /// The generation object of a span that is one, or why it cannot be taken.
    static func generation(_ span: OTLPSpan, _ a: Attributes, _ convention: Convention, account: String?) -> Outcome {
        let spanName = hex(Array(span.spanID))
        // A span that names another account than the ingest token's keeps that name, so the
        // ingest refuses it (forbidden) rather than filing it under the token's account.
        guard let accountID = a.string("iolog.account_id") ?? account else {
            return .rejected("span \(spanName): no iolog.account_id attribute (span or resource), and the token is not an account ingest token")
        }
        let prompt: JSONValue?
        let completion: JSONValue?
        var model: String?
        var provider: String?
        var promptTokens = a.integer("gen_ai.usage.input_tokens") ?? a.integer("gen_ai.usage.prompt_tokens")
        var completionTokens = a.integer("gen_ai.usage.output_tokens") ?? a.integer("gen_ai.usage.completion_tokens")
        var cost = a.double("gen_ai.usage.cost")
        var apiKey: String?
        switch convention {
        case .genAI:
            let messages = a.content("gen_ai.input.messages")
            if let instructions = a.content("gen_ai.system_instructions") {
                prompt = .object(["system_instructions": instructions, "messages": messages ?? .array([])])
            } else {
                prompt = messages
            }
            completion = a.content("gen_ai.output.messages")
            model = a.string("gen_ai.response.model") ?? a.string("gen_ai.request.model")
            provider = a.string("gen_ai.provider.name") ?? a.string("gen_ai.system")
        case .broadcast:
            prompt = a.content("gen_ai.prompt")
            completion = a.content("gen_ai.completion")
            model = a.string("gen_ai.response.model") ?? a.string("gen_ai.request.model")
            provider =
                a.string("trace.metadata.openrouter.provider_name") ?? a.string("trace.metadata.openrouter.provider")
                ?? a.string("gen_ai.provider.name") ?? a.string("gen_ai.system")
            apiKey = a.string("trace.metadata.openrouter.api_key_name")
            cost = cost ?? a.double("trace.metadata.openrouter.cost")
        case .openInference:
            prompt = a.content("input.value")
            completion = a.content("output.value")
            model = a.string("llm.model_name")
            provider = a.string("llm.provider") ?? a.string("llm.system")
            promptTokens = promptTokens ?? a.integer("llm.token_count.prompt")
            completionTokens = completionTokens ?? a.integer("llm.token_count.completion")
            cost = cost ?? a.double("llm.cost.total")
        }
        guard let prompt, let completion else {
            return .rejected("span \(spanName): a \(convention.rawValue) generation without its prompt and completion (is content capture on?)")
        }

        let responseID = a.string("gen_ai.response.id").flatMap { Identifier.isValid($0) ? $0 : nil }
        var fields: [String: JSONValue] = [
            "id": .string(responseID ?? "otlp-\(hex(Array(span.traceID)))-\(spanName)"),
            "account_id": .string(accountID),
            "created_at": .string(Timestamp(micros: Int64(clamping: span.startTimeUnixNano / 1_000)).rfc3339),
            "model": .string(model ?? "unknown"),
            "provider": .string(provider ?? "unknown"),
            "prompt": prompt,
            "completion": completion,
        ]
        if span.endTimeUnixNano >= span.startTimeUnixNano, span.startTimeUnixNano > 0 {
            fields["latency_ms"] = .integer(Int64(clamping: (span.endTimeUnixNano - span.startTimeUnixNano) / 1_000_000))
        }
        var usage: [String: JSONValue] = [:]
        usage["prompt_tokens"] = promptTokens.map(JSONValue.integer)
        usage["completion_tokens"] = completionTokens.map(JSONValue.integer)
        if !usage.isEmpty { fields["usage"] = .object(usage) }
        fields["cost_usd"] = cost.map(JSONValue.double)
        fields["finish_reason"] = a.finishReason()
        fields["user_id"] = (a.string("user.id") ?? a.string("trace.metadata.openrouter.user_id")).map { .string(storedID($0)) }
        fields["session_id"] = (a.string("session.id") ?? a.string("gen_ai.conversation.id")).map { .string(storedID($0)) }
        fields["api_key_id"] = apiKey.map { .string(storedID($0)) }
        if let region = a.string("iolog.routing.region") { fields["routing"] = .object(["region": .string(region)]) }
        return .generation(.object(fields), convention)
    }

    /// An id from a trace as iolog stores it: itself when it fits the id alphabet (1–128 of
    /// `A-Z a-z 0-9 . _ : -`), else `sha256:` and the first 32 hex digits of the SHA-256 of its
    /// UTF-8 bytes. Emails and names with spaces become filterable and erasable ids, and the
    /// raw value is never stored: `printf %s 'alice@example.com' | sha256sum | cut -c1-32`.
    public static func storedID(_ raw: String) -> String {
        if Identifier.isValid(raw) { return raw }
        return "sha256:" + String(hex(Digest.sha256(Array(raw.utf8))).prefix(32))
    }
}

/// A span's attributes with its resource's behind them ("span, then resource").
struct Attributes {
    private var values: [String: OTLPAnyValue] = [:]
    private var own: Set<String> = []

    init(_ list: [OTLPKeyValue], fallback: Attributes? = nil) {
        values = fallback?.values ?? [:]
        for pair in list {
            values[pair.key] = pair.value
            own.insert(pair.key)
        }
    }

    private func value(_ key: String, spanOnly: Bool) -> OTLPAnyValue? {
        if spanOnly, !own.contains(key) { return nil }
        return values[key]
    }

    func string(_ key: String, spanOnly: Bool = false) -> String? {
        guard case .stringValue(let text)? = value(key, spanOnly: spanOnly)?.value, !text.isEmpty else { return nil }
        return text
    }

    /// A non-negative whole number, sent as an int, a whole double or digits in a string.
    func integer(_ key: String) -> Int64? {
        switch values[key]?.value {
        case .intValue(let number)?: number >= 0 ? number : nil
        case .doubleValue(let number)? where number >= 0 && number.rounded() == number && number < 9e18: Int64(number)
        case .stringValue(let text)?: Int64(text).flatMap { $0 >= 0 ? $0 : nil }
        default: nil
        }
    }

    func double(_ key: String) -> Double? {
        switch values[key]?.value {
        case .doubleValue(let number)? where number.isFinite && number >= 0: number
        case .intValue(let number)? where number >= 0: Double(number)
        case .stringValue(let text)?: Double(text).flatMap { $0.isFinite && $0 >= 0 ? $0 : nil }
        default: nil
        }
    }

    /// `gen_ai.response.finish_reasons` (an array: its first) or a single finish reason.
    func finishReason() -> JSONValue? {
        for key in ["gen_ai.response.finish_reasons", "gen_ai.response.finish_reason", "llm.finish_reason"] {
            switch values[key]?.value {
            case .stringValue(let text)? where !text.isEmpty: return .string(text)
            case .arrayValue(let list)?:
                if case .stringValue(let text)? = list.values.first?.value, !text.isEmpty { return .string(text) }
            default: continue
            }
        }
        return nil
    }

    /// A content attribute as JSON: an exporter's JSON text (messages, a completion object) as
    /// the value it spells, any other text as a string, structured values as they are.
    func content(_ key: String) -> JSONValue? {
        guard let any = values[key] else { return nil }
        if case .stringValue(let text)? = any.value {
            let trimmed = text.drop { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
            if trimmed.first == "[" || trimmed.first == "{",
                let parsed = try? JSONParser.parse(Array(text.utf8), limits: .request)
            {
                return parsed
            }
            return .string(text)
        }
        return Self.json(any)
    }

    static func json(_ any: OTLPAnyValue) -> JSONValue {
        switch any.value {
        case .stringValue(let text)?: .string(text)
        case .boolValue(let flag)?: .bool(flag)
        case .intValue(let number)?: .integer(number)
        case .doubleValue(let number)?: number.isFinite ? .double(number) : .null
        case .arrayValue(let list)?: .array(list.values.map(json))
        case .kvlistValue(let list)?: .object(Dictionary(list.values.map { ($0.key, json($0.value)) }) { _, last in last })
        case .bytesValue(let bytes)?: .string(bytes.base64EncodedString())
        case nil: .null
        }
    }
}
