/// What a token may do.
public enum TokenKind: String, Sendable, CaseIterable, Codable {
    /// The gateway: ingest generations.
    case gateway
    /// The gateway's platform: sync accounts and memberships.
    case platform
    /// A person: read the accounts they administer.
    case user
    /// One account's own exporter: ingest for that account only (`/v1/generations`, `/v1/traces`).
    case ingest

    /// The short code in the token's readable prefix.
    var code: String {
        switch self {
        case .gateway: "gw"
        case .platform: "pf"
        case .user: "usr"
        case .ingest: "ing"
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
    /// The one account an ingest token may ingest for.
    public let accountID: String?
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
        accountID: String? = nil,
        label: String?,
        createdAt: Timestamp,
        revokedAt: Timestamp?,
        createdBy: String? = nil
    ) {
        self.id = id
        self.kind = kind
        self.userID = userID
        self.accountID = accountID
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
    case ingest(tokenID: String, accountID: String)

    /// The audit actor string: the token id, and the user for people.
    public var actor: String {
        switch self {
        case .gateway(let tokenID): "gateway:\(tokenID)"
        case .platform(let tokenID): "platform:\(tokenID)"
        case .user(let tokenID, let userID): "user:\(userID) (\(tokenID))"
        case .ingest(let tokenID, let accountID): "ingest:\(tokenID) (\(accountID))"
        }
    }

    /// True for the tokens that may ingest: the gateway's, and an account's own ingest tokens.
    public var mayIngest: Bool {
        switch self {
        case .gateway, .ingest: true
        case .platform, .user: false
        }
    }

    /// Whether this principal may ingest for `accountID`: the gateway for every account, an
    /// ingest token for its own account only.
    public func mayIngest(for accountID: String) -> Bool {
        switch self {
        case .gateway: true
        case .ingest(_, let own): own == accountID
        case .platform, .user: false
        }
    }
}
