/// What a token may do.
public enum TokenKind: String, Sendable, CaseIterable, Codable {
    /// The gateway: ingest generations.
    case gateway
    /// The gateway's platform: sync accounts and memberships.
    case platform
    /// A person: read the accounts they administer.
    case user

    /// The short code in the token's readable prefix.
    var code: String {
        switch self {
        case .gateway: "gw"
        case .platform: "pf"
        case .user: "usr"
        }
    }
}

/// A token as stored: never the secret, only facts about it.
public struct TokenRecord: Sendable, Equatable {
    /// The public id, e.g. `gw-1a2b3c4d5e6f7a8b`; safe to show and log.
    public let id: String
    public let kind: TokenKind
    /// The person a user token belongs to.
    public let userID: String?
    public let label: String?
    public let createdAt: Timestamp
    public var revokedAt: Timestamp?
    /// The audit actor who minted it (`cli:<user>` on the server); nil for tokens made before
    /// iolog recorded it.
    public var createdBy: String?

    public init(
        id: String,
        kind: TokenKind,
        userID: String?,
        label: String?,
        createdAt: Timestamp,
        revokedAt: Timestamp?,
        createdBy: String? = nil
    ) {
        self.id = id
        self.kind = kind
        self.userID = userID
        self.label = label
        self.createdAt = createdAt
        self.revokedAt = revokedAt
        self.createdBy = createdBy
    }
}

/// Who made a request, as established by a valid, unrevoked token.
public enum Principal: Sendable, Equatable {
    case gateway(tokenID: String)
    case platform(tokenID: String)
    case user(tokenID: String, userID: String)

    /// The audit actor string: the token id, and the user for people.
    public var actor: String {
        switch self {
        case .gateway(let tokenID): "gateway:\(tokenID)"
        case .platform(let tokenID): "platform:\(tokenID)"
        case .user(let tokenID, let userID): "user:\(userID) (\(tokenID))"
        }
    }
}
