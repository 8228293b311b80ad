/// A generation as stored: plain metadata and sealed bodies.
public struct SealedGeneration: Sendable, Equatable {
    public var id: String
    public var accountID: String
    public var createdAt: Timestamp
    public var storedAt: Timestamp
    public var userID: String?
    public var apiKeyID: String?
    public var model: String
    public var provider: String
    public var region: String
    public var promptTokens: Int64?
    public var completionTokens: Int64?
    public var costUSD: Double?
    public var latencyMilliseconds: Int64?
    public var finishReason: String?
    public var streamed: Bool?
    /// See `BodyEnvelope.Sealer.contentMAC`.
    public var contentMAC: [UInt8]
    public var promptSealed: [UInt8]
    public var completionSealed: [UInt8]
    public var reasoningSealed: [UInt8]?

    public init(
        id: String,
        accountID: String,
        createdAt: Timestamp,
        storedAt: Timestamp,
        userID: String? = nil,
        apiKeyID: String? = nil,
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
        self.id = id
        self.accountID = accountID
        self.createdAt = createdAt
        self.storedAt = storedAt
        self.userID = userID
        self.apiKeyID = apiKeyID
        self.model = model
        self.provider = provider
        self.region = region
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.costUSD = costUSD
        self.latencyMilliseconds = latencyMilliseconds
        self.finishReason = finishReason
        self.streamed = streamed
        self.contentMAC = contentMAC
        self.promptSealed = promptSealed
        self.completionSealed = completionSealed
        self.reasoningSealed = reasoningSealed
    }
}
