/// One generation as posted by the gateway, validated (DESIGN §4.1).
@dynamicMemberLookup
public struct GenerationInput: Sendable, Equatable {
    public var id: String
    public var accountID: String
    public var metadata: GenerationMetadata
    public var prompt: JSONValue
    public var completion: JSONValue
    public var reasoning: JSONValue?

    public subscript<T>(dynamicMember field: WritableKeyPath<GenerationMetadata, T>) -> T {
        get { metadata[keyPath: field] }
        set { metadata[keyPath: field] = newValue }
    }

    /// How far in the future a `created_at` may be before it is a gateway bug.
    public static let maximumClockSkewMicros: Int64 = 5 * 60 * 1_000_000
    /// The longest free-text metadata value (model, provider, finish reason).
    public static let maximumLabelLength = 256
    /// The deepest a prompt, completion or reasoning may nest (arrays and objects).
    public static let maximumContentDepth = 100

    /// Validates `value` against the contract. Errors name the field and never quote its value.
    public static func parse(_ value: JSONValue, now: Timestamp) throws(FieldError) -> GenerationInput {
        guard case .object = value else { throw FieldError(field: nil, message: "a generation must be a JSON object") }
        let id = try identifier(value, "id")
        let accountID = try identifier(value, "account_id")
        let userID = try optionalIdentifier(value, "user_id")
        let apiKeyID = try optionalIdentifier(value, "api_key_id")
        let sessionID = try optionalIdentifier(value, "session_id")
        guard case .string(let createdText)? = value["created_at"] else { throw missingOrType("created_at", "an RFC 3339 timestamp") }
        guard let createdAt = RFC3339.parse(createdText) else {
            throw FieldError(field: "created_at", message: "created_at must be an RFC 3339 timestamp")
        }
        guard createdAt.micros <= now.micros + maximumClockSkewMicros else {
            throw FieldError(field: "created_at", message: "created_at is more than 5 minutes in the future")
        }
        let model = try label(value["model"], "model", required: true)!
        let provider = try label(value["provider"], "provider", required: true)!
        let finishReason = try label(value["finish_reason"], "finish_reason", required: false)

        var region = "global"
        switch value["routing"] {
        case nil, .null?: break
        case .object?:
            switch value["routing"]?["region"] {
            case nil, .null?: break
            case .string(let text)?:
                guard isRegion(text) else {
                    throw FieldError(field: "routing.region", message: "routing.region must be a short lowercase word")
                }
                region = text
            default: throw FieldError(field: "routing.region", message: "routing.region must be a string")
            }
        default: throw FieldError(field: "routing", message: "routing must be an object")
        }

        var promptTokens: Int64?
        var completionTokens: Int64?
        switch value["usage"] {
        case nil, .null?: break
        case .object?:
            promptTokens = try count(value["usage"]?["prompt_tokens"], "usage.prompt_tokens")
            completionTokens = try count(value["usage"]?["completion_tokens"], "usage.completion_tokens")
        default: throw FieldError(field: "usage", message: "usage must be an object")
        }
        let latency = try count(value["latency_ms"], "latency_ms")

        var cost: Double?
        switch value["cost_usd"] {
        case nil, .null?: break
        case .number(let number)? where (number.doubleValue ?? -1) >= 0: cost = number.doubleValue
        default: throw FieldError(field: "cost_usd", message: "cost_usd must be a non-negative number")
        }

        var streamed: Bool?
        switch value["streamed"] {
        case nil, .null?: break
        case .bool(let flag)?: streamed = flag
        default: throw FieldError(field: "streamed", message: "streamed must be true or false")
        }

        guard let prompt = value["prompt"] else { throw FieldError(field: "prompt", message: "prompt is required") }
        guard let completion = value["completion"] else {
            throw FieldError(field: "completion", message: "completion is required")
        }
        var reasoning = value["reasoning"]
        if reasoning == .null { reasoning = nil }
        for (field, body) in [("prompt", prompt), ("completion", completion), ("reasoning", reasoning)] {
            // Well inside every parser's and encoder's limit, so what is stored can always be shown.
            if let body, body.depth > maximumContentDepth {
                throw FieldError(field: field, message: "\(field) nests deeper than \(maximumContentDepth) levels")
            }
        }

        return GenerationInput(
            id: id,
            accountID: accountID,
            metadata: GenerationMetadata(
                createdAt: createdAt,
                userID: userID,
                apiKeyID: apiKeyID,
                sessionID: sessionID,
                model: model,
                provider: provider,
                region: region,
                promptTokens: promptTokens,
                completionTokens: completionTokens,
                costUSD: cost,
                latencyMilliseconds: latency,
                finishReason: finishReason,
                streamed: streamed
            ),
            prompt: prompt,
            completion: completion,
            reasoning: reasoning
        )
    }

    /// True for a region name: 1–32 of `a-z 0-9 -`, starting with a letter.
    public static func isRegion(_ text: String) -> Bool {
        let utf8 = Array(text.utf8)
        guard let first = utf8.first, (1...32).contains(utf8.count), first >= 97, first <= 122 else { return false }
        return utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == UInt8(ascii: "-") }
    }

    /// Bodies sealed for this generation (prompt, completion and maybe reasoning), each with a
    /// fresh nonce under the account's data key.
    public var sealCount: Int { reasoning == nil ? 2 : 3 }

    /// Every ingested field in a fixed order, bodies included: the input to the content MAC
    /// that tells a gateway retry (same content) from a conflicting reuse of an id.
    public var canonicalContent: [UInt8] {
        canonicalContent(prompt: prompt.canonicalBytes, completion: completion.canonicalBytes, reasoning: reasoning?.canonicalBytes)
    }

    /// `canonicalContent` from the bodies' canonical text written already (for sealing), so
    /// ingest writes each body once: the canonical text of the object whose members are the
    /// metadata and the bodies, keys sorted.
    public func canonicalContent(prompt: [UInt8], completion: [UInt8], reasoning: [UInt8]?) -> [UInt8] {
        let m = metadata
        var members: [String: JSONValue] = [
            "id": .string(id), "account_id": .string(accountID), "created_at": .integer(m.createdAt.micros),
            "m.model": .string(m.model), "m.provider": .string(m.provider), "m.region": .string(m.region),
        ]
        members["user_id"] = m.userID.map(JSONValue.string)
        members["api_key_id"] = m.apiKeyID.map(JSONValue.string)
        // Absent when there is none, so the content MAC of a generation without a session is
        // what it was before sessions were stored (a retry of one stays a duplicate).
        members["session_id"] = m.sessionID.map(JSONValue.string)
        members["prompt_tokens"] = m.promptTokens.map(JSONValue.integer)
        members["completion_tokens"] = m.completionTokens.map(JSONValue.integer)
        members["cost_usd"] = m.costUSD.map(JSONValue.double)
        members["latency_ms"] = m.latencyMilliseconds.map(JSONValue.integer)
        members["finish_reason"] = m.finishReason.map(JSONValue.string)
        members["m.streamed"] = m.streamed.map(JSONValue.bool)
        var bodies = ["prompt": prompt, "completion": completion]
        bodies["reasoning"] = reasoning
        var object = JSONObjectWriter()
        for key in (Array(members.keys) + Array(bodies.keys)).sorted() {
            if let body = bodies[key] { object.member(key, json: body) } else { object.member(key, members[key]!) }
        }
        return object.finish()
    }

    private static func missingOrType(_ field: String, _ what: String) -> FieldError {
        FieldError(field: field, message: "\(field) is required and must be \(what)")
    }

    private static func identifier(_ value: JSONValue, _ field: String) throws(FieldError) -> String {
        guard case .string(let text)? = value[field] else { throw missingOrType(field, "a string") }
        guard Identifier.isValid(text) else {
            throw FieldError(field: field, message: "\(field) must be 1–128 characters of A-Z a-z 0-9 . _ : -")
        }
        return text
    }

    private static func optionalIdentifier(_ value: JSONValue, _ field: String) throws(FieldError) -> String? {
        switch value[field] {
        case nil, .null?: return nil
        default: return try identifier(value, field)
        }
    }

    private static func label(_ value: JSONValue?, _ field: String, required: Bool) throws(FieldError) -> String? {
        switch value {
        case nil, .null?:
            if required { throw missingOrType(field, "a non-empty string") }
            return nil
        case .string(let text)?:
            guard !text.isEmpty, text.utf8.count <= maximumLabelLength else {
                throw FieldError(field: field, message: "\(field) must be 1–\(maximumLabelLength) bytes")
            }
            guard !text.unicodeScalars.contains(where: isControl) else {
                throw FieldError(field: field, message: "\(field) must not contain control characters")
            }
            return text
        default:
            throw FieldError(field: field, message: "\(field) must be a string")
        }
    }

    /// Characters a label may not hold: C0 controls (NUL, newlines, escape), DEL, C1 controls
    /// and the bidirectional overrides and isolates. Labels are shown in tables and filters and
    /// copied into log lines; there they would cut, colour or reorder the text around them.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    private static func count(_ value: JSONValue?, _ field: String) throws(FieldError) -> Int64? {
        switch value {
        case nil, .null?: return nil
        // `12.0` and `1.2e1` are integers too; `1e-400` is not (it is not zero, only rounds to it).
        case .number(let number)? where (number.exactInteger ?? -1) >= 0: return number.exactInteger
        default: throw FieldError(field: field, message: "\(field) must be a non-negative integer")
        }
    }
}
