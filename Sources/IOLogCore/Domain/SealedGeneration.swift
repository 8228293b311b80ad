/// The plain metadata of a generation: the thirteen fields the gateway sends besides its id,
/// account and content. One struct for every stage, so the input, the stored row and the list
/// entry cannot drift apart; each of them reads these fields directly (`g.model`).
public struct GenerationMetadata: Sendable, Equatable {
    public var createdAt: Timestamp
    public var userID: String?
    public var apiKeyID: String?
    /// The conversation or agent run the generation belongs to (the gateway's, or `session.id`
    /// on a trace): an id, filterable like the user.
    public var sessionID: String?
    public var model: String
    public var provider: String
    public var region: String
    public var promptTokens: Int64?
    public var completionTokens: Int64?
    public var costUSD: Double?
    public var latencyMilliseconds: Int64?
    public var finishReason: String?
    public var streamed: Bool?

    public init(
        createdAt: Timestamp,
        userID: String? = nil,
        apiKeyID: String? = nil,
        sessionID: String? = nil,
        model: String,
        provider: String,
        region: String,
        promptTokens: Int64? = nil,
        completionTokens: Int64? = nil,
        costUSD: Double? = nil,
        latencyMilliseconds: Int64? = nil,
        finishReason: String? = nil,
        streamed: Bool? = nil
    ) {
        self.createdAt = createdAt
        self.userID = userID
        self.apiKeyID = apiKeyID
        self.sessionID = sessionID
        self.model = model
        self.provider = provider
        self.region = region
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.costUSD = costUSD
        self.latencyMilliseconds = latencyMilliseconds
        self.finishReason = finishReason
        self.streamed = streamed
    }
}

/// A generation as stored: plain metadata and sealed bodies.
@dynamicMemberLookup
public struct SealedGeneration: Sendable, Equatable {
    public var id: String
    public var accountID: String
    public var metadata: GenerationMetadata
    public var storedAt: Timestamp
    /// See `BodyEnvelope.Sealer.contentMAC`.
    public var contentMAC: [UInt8]
    public var promptSealed: [UInt8]
    public var completionSealed: [UInt8]
    public var reasoningSealed: [UInt8]?

    public subscript<T>(dynamicMember field: WritableKeyPath<GenerationMetadata, T>) -> T {
        get { metadata[keyPath: field] }
        set { metadata[keyPath: field] = newValue }
    }

    public init(
        id: String,
        accountID: String,
        metadata: GenerationMetadata,
        storedAt: Timestamp,
        contentMAC: [UInt8],
        promptSealed: [UInt8],
        completionSealed: [UInt8],
        reasoningSealed: [UInt8]? = nil
    ) {
        self.id = id
        self.accountID = accountID
        self.metadata = metadata
        self.storedAt = storedAt
        self.contentMAC = contentMAC
        self.promptSealed = promptSealed
        self.completionSealed = completionSealed
        self.reasoningSealed = reasoningSealed
    }

    /// Field by field, for fixtures and tests.
    public init(
        id: String,
        accountID: String,
        createdAt: Timestamp,
        storedAt: Timestamp,
        userID: String? = nil,
        apiKeyID: String? = nil,
        sessionID: String? = nil,
        model: String,
        provider: String,
        region: String,
        promptTokens: Int64? = nil,
        completionTokens: Int64? = nil,
        costUSD: Double? = nil,
        latencyMilliseconds: Int64? = nil,
        finishReason: String? = nil,
        streamed: Bool? = nil,
        contentMAC: [UInt8],
        promptSealed: [UInt8],
        completionSealed: [UInt8],
        reasoningSealed: [UInt8]? = nil
    ) {
        self.init(
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
                costUSD: costUSD,
                latencyMilliseconds: latencyMilliseconds,
                finishReason: finishReason,
                streamed: streamed
            ),
            storedAt: storedAt,
            contentMAC: contentMAC,
            promptSealed: promptSealed,
            completionSealed: completionSealed,
            reasoningSealed: reasoningSealed
        )
    }
}

extension SealedGeneration {
    /// A generation without bodies from the engines' shared column order (`id, account_id,
    /// created_at, stored_at, user_id, api_key_id, model, provider, region, prompt_tokens,
    /// completion_tokens, cost_usd, latency_ms, finish_reason, streamed, session_id`).
    static func fromMetadataColumns(text: (Int) -> String?, integer: (Int) -> Int64?, real: (Int) -> Double?) -> SealedGeneration {
        SealedGeneration(
            id: text(0) ?? "",
            accountID: text(1) ?? "",
            metadata: GenerationMetadata(
                createdAt: Timestamp(micros: integer(2) ?? 0),
                userID: text(4),
                apiKeyID: text(5),
                sessionID: text(15),
                model: text(6) ?? "",
                provider: text(7) ?? "",
                region: text(8) ?? "",
                promptTokens: integer(9),
                completionTokens: integer(10),
                costUSD: real(11),
                latencyMilliseconds: integer(12),
                finishReason: text(13),
                streamed: integer(14).map { $0 == 1 }
            ),
            storedAt: Timestamp(micros: integer(3) ?? 0),
            contentMAC: [],
            promptSealed: [],
            completionSealed: []
        )
    }
}
