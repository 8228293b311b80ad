/// Whether an account belongs to one person or to an organization.
public enum AccountKind: String, Sendable, CaseIterable, Codable {
    case personal
    case organization
}

/// A member's role in an account. Only admins see logs.
public enum Role: String, Sendable, CaseIterable, Codable {
    case admin
    case member
}

/// An account's Input & Output Logging setting.
public struct IOLoggingSetting: Sendable, Equatable {
    /// Whether new generations are stored.
    public var enabled: Bool
    /// When logging was last turned on; generations created before it are not stored.
    public var enabledAt: Timestamp?

    public init(enabled: Bool, enabledAt: Timestamp?) {
        self.enabled = enabled
        self.enabledAt = enabledAt
    }
}

/// An account as the gateway's platform describes it.
public struct Account: Sendable, Equatable {
    public let id: String
    public var kind: AccountKind
    public var name: String?
    public var ioLogging: IOLoggingSetting
    /// Generations created before this moment were erased at the owner's request and are never
    /// stored again (DESIGN §6): set by whole-account and `--before` deletion runs.
    public var erasedBefore: Timestamp?

    public init(id: String, kind: AccountKind, name: String?, ioLogging: IOLoggingSetting, erasedBefore: Timestamp? = nil) {
        self.id = id
        self.kind = kind
        self.name = name
        self.ioLogging = ioLogging
        self.erasedBefore = erasedBefore
    }
}
