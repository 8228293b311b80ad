/// What `iolog serve --dev` creates so a newcomer can try the service at once:
/// a demo organization with logging on, an admin, a gateway token and the admin's token.
public struct DevelopmentSetup: Sendable {
    public static let accountID = "demo-org"
    public static let adminUserID = "demo-admin"

    /// The tokens made for this run; printed once, stored only hashed.
    public struct Tokens: Sendable {
        public let gateway: IssuedToken
        public let admin: IssuedToken
    }

    private let store: any LogStore
    private let clock: Clock

    /// The audit actor of what `serve --dev` sets up.
    static let actor = "cli:serve --dev"

    public init(store: any LogStore, clock: Clock = .system) {
        self.store = store
        self.clock = clock
    }

    /// Creates the demo account and admin if missing, turns logging on, and issues fresh tokens.
    /// `loggingSince` backdates the moment logging is turned on (for demo data in the past); it
    /// applies only when logging is off.
    public func run(loggingSince: Timestamp? = nil) async throws -> Tokens {
        let now = Timestamp(micros: clock.nowMicros())
        let directory = AccountDirectory(store: store, clock: clock)
        let account = try await directory.upsertAccount(
            id: Self.accountID,
            kind: .organization,
            name: "Demo Organization",
            actor: Self.actor
        )
        if !account.ioLogging.enabled {
            let audit = AuditEvent(
                occurredAt: now,
                actor: Self.actor,
                action: "io_logging.enable",
                accountID: Self.accountID
            )
            _ = try await store.setIOLogging(accountID: Self.accountID, enabled: true, at: loggingSince ?? now, audit: audit)
        }
        try await directory.setRole(accountID: Self.accountID, userID: Self.adminUserID, role: .admin, actor: Self.actor)
        let tokens = TokenService(store: store, clock: clock)
        return Tokens(
            gateway: try await tokens.create(kind: .gateway, label: "serve --dev", actor: Self.actor),
            admin: try await tokens.create(kind: .user, userID: Self.adminUserID, label: "serve --dev", actor: Self.actor)
        )
    }
}
