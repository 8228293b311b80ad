/// A browser session of the Logs pages, as stored (the secret itself is never stored).
public struct SessionRecord: Sendable, Equatable {
    public let tokenID: String
    public let userID: String
    public let createdAt: Timestamp
    public let expiresAt: Timestamp

    public init(tokenID: String, userID: String, createdAt: Timestamp, expiresAt: Timestamp) {
        self.tokenID = tokenID
        self.userID = userID
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

/// A live session: who it is and the CSRF token its forms must carry.
public struct WebSession: Sendable, Equatable {
    public let record: SessionRecord
    /// Derived from the cookie secret, so it needs no storage and differs per session.
    public let csrfToken: String

    public var principal: Principal { .user(tokenID: record.tokenID, userID: record.userID) }
}

/// Opens, checks and ends browser sessions.
///
/// Logging in exchanges a user token for a session cookie of 256 random bits (64 hex digits).
/// The store keeps only the SHA-256 of the cookie, the token it came from and an absolute
/// expiry; a session dies on logout, on expiry, and when its token is revoked.
public struct SessionService: Sendable {
    /// How long a session lasts from login, whatever the activity.
    public static let lifetimeSeconds: Int64 = 12 * 60 * 60

    private let store: any LogStore
    private let tokens: TokenService
    private let clock: Clock

    public init(store: any LogStore, clock: Clock = .system) {
        self.store = store
        self.tokens = TokenService(store: store, clock: clock)
        self.clock = clock
    }

    /// Why a login was refused; the messages are safe to show.
    public enum LoginError: Error, Equatable {
        case unknownToken
        case notAUserToken

        public var message: String {
            switch self {
            case .unknownToken: "That token is unknown or revoked."
            case .notAUserToken: "That is a gateway or platform token. Sign in with a user token."
            }
        }
    }

    /// Opens a session for a presented user token; returns the cookie value and the session.
    public func login(token presented: String) async throws -> (cookie: String, session: WebSession) {
        guard let principal = try await tokens.authenticate(presented) else { throw LoginError.unknownToken }
        guard case .user(let tokenID, let userID) = principal else { throw LoginError.notAUserToken }
        var secret = try SecureRandom.bytes(count: 32)
        defer { wipe(&secret) }
        let cookie = hex(secret)
        let now = clock.nowMicros()
        let record = SessionRecord(
            tokenID: tokenID,
            userID: userID,
            createdAt: Timestamp(micros: now),
            expiresAt: Timestamp(micros: now + Self.lifetimeSeconds * 1_000_000)
        )
        try await store.insertSession(record, secretSHA256: Digest.sha256(cookie.utf8))
        return (cookie, WebSession(record: record, csrfToken: Self.csrfToken(cookie: cookie)))
    }

    /// The live session behind a cookie value, or nil (malformed, unknown, expired, revoked token).
    public func session(cookie: String) async throws -> WebSession? {
        guard Self.isWellFormed(cookie) else { return nil }
        let now = Timestamp(micros: clock.nowMicros())
        guard let record = try await store.session(secretSHA256: Digest.sha256(cookie.utf8), at: now) else { return nil }
        return WebSession(record: record, csrfToken: Self.csrfToken(cookie: cookie))
    }

    /// Ends the session behind a cookie value (nothing happens for an unknown one).
    public func logout(cookie: String) async throws {
        guard Self.isWellFormed(cookie) else { return }
        try await store.deleteSession(secretSHA256: Digest.sha256(cookie.utf8))
    }

    /// A token for forms shown before login (login CSRF): random, paired with a cookie.
    public static func makeLoginCSRFToken() throws -> String { hex(try SecureRandom.bytes(count: 16)) }

    /// Whether a submitted CSRF token matches the expected one, in constant time.
    public static func csrfMatches(_ submitted: String?, _ expected: String) -> Bool {
        guard let submitted else { return false }
        return Digest.constantTimeEqual(Array(submitted.utf8), Array(expected.utf8))
    }

    private static func csrfToken(cookie: String) -> String {
        hex(Digest.sha256(Array("iolog csrf v1\u{0}".utf8) + Array(cookie.utf8)))
    }

    private static func isWellFormed(_ cookie: String) -> Bool {
        cookie.utf8.count == 64 && cookie.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}
