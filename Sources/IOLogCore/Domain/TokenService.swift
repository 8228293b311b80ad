/// A token as handed to its holder, once: the record and the full secret string.
public struct IssuedToken: Sendable {
    public let record: TokenRecord
    /// `iolog_<id>_<secret>`; printed once, never stored.
    public let token: String
}

/// Creates, checks and revokes tokens.
///
/// A token is `iolog_` + id + `_` + 64 hex digits (256 random bits). Only the SHA-256
/// of the secret is stored; a presented token is looked up by its id and its secret's
/// digest compared in constant time.
public struct TokenService: Sendable {
    private static let prefix = "iolog_"
    private let store: any LogStore
    private let clock: Clock

    public init(store: any LogStore, clock: Clock = .system) {
        self.store = store
        self.clock = clock
    }

    /// Makes a token of `kind` (user tokens need `userID`, ingest tokens `accountID`, an account
    /// that exists); audited as `token.create` by `actor`, in the trail of every account the
    /// token can read or write.
    public func create(
        kind: TokenKind,
        userID: String? = nil,
        accountID: String? = nil,
        label: String? = nil,
        actor: String
    ) async throws
        -> IssuedToken
    {
        switch (kind, userID) {
        case (.user, nil): throw IOLogError.invalidInput("a user token needs a user id")
        case (.user, let userID?): _ = try Identifier.validated(userID, as: "user id")
        case (_, .some): throw IOLogError.invalidInput("only user tokens belong to a user")
        case (_, nil): break
        }
        switch (kind, accountID) {
        case (.ingest, nil): throw IOLogError.invalidInput("an ingest token needs an account")
        case (.ingest, let accountID?):
            _ = try Identifier.validated(accountID, as: "account")
            guard try await store.account(id: accountID) != nil else { throw IOLogError.notFound("no account \(accountID)") }
        case (_, .some): throw IOLogError.invalidInput("only ingest tokens belong to an account")
        case (_, nil): break
        }
        if let label {
            guard label.utf8.count <= 200, !label.unicodeScalars.contains(where: GenerationInput.isControl) else {
                throw IOLogError.invalidInput("a token label is at most 200 bytes with no control characters")
            }
        }
        let id = kind.code + "-" + hex(try SecureRandom.bytes(count: 8))
        var secret = try SecureRandom.bytes(count: 32)
        defer { wipe(&secret) }
        let secretText = hex(secret)
        let record = TokenRecord(
            id: id,
            kind: kind,
            userID: userID,
            accountID: accountID,
            label: label,
            createdAt: Timestamp(micros: clock.nowMicros()),
            revokedAt: nil,
            createdBy: actor
        )
        var detail: [String: JSONValue] = ["kind": .string(kind.rawValue)]
        detail["user_id"] = userID.map(JSONValue.string)
        detail["label"] = label.map(JSONValue.string)
        let audit = AuditEvent(
            occurredAt: record.createdAt,
            actor: actor,
            action: "token.create",
            accountID: accountID,
            target: id,
            detail: JSONValue.object(detail).canonicalText
        )
        try await store.insertToken(record, secretSHA256: Digest.sha256(secretText.utf8), audit: audit)
        return IssuedToken(record: record, token: Self.prefix + id + "_" + secretText)
    }

    /// The principal a presented token stands for, or nil if it is malformed, unknown or revoked.
    public func authenticate(_ presented: String) async throws -> Principal? {
        guard presented.hasPrefix(Self.prefix) else { return nil }
        let parts = presented.dropFirst(Self.prefix.count).split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count <= 32, parts[1].count == 64 else { return nil }
        guard let (record, expected) = try await store.tokenCredential(id: String(parts[0])) else { return nil }
        guard Digest.constantTimeEqual(Digest.sha256(parts[1].utf8), expected), record.revokedAt == nil else {
            return nil
        }
        switch record.kind {
        case .gateway: return .gateway(tokenID: record.id)
        case .platform: return .platform(tokenID: record.id)
        case .user:
            guard let userID = record.userID else { return nil }
            return .user(tokenID: record.id, userID: userID)
        case .ingest:
            guard let accountID = record.accountID else { return nil }
            return .ingest(tokenID: record.id, accountID: accountID)
        }
    }

    /// The ingest tokens of one account, active and revoked, newest first.
    public func ingestTokens(accountID: String) async throws -> [TokenRecord] {
        try await store.tokens().filter { $0.kind == .ingest && $0.accountID == accountID }
    }

    /// Revokes one of the account's own ingest tokens (what its admins may revoke); any other
    /// id, or one already revoked, is `notFound`.
    public func revokeIngestToken(id: String, accountID: String, actor: String) async throws {
        guard try await ingestTokens(accountID: accountID).contains(where: { $0.id == id && $0.revokedAt == nil }) else {
            throw IOLogError.notFound("no active ingest token \(id) in account \(accountID)")
        }
        try await revoke(id: id, actor: actor)
    }

    /// Revokes a token by id, audited as `token.revoke` by `actor`; effective at once for every
    /// process on the data folder.
    public func revoke(id: String, actor: String) async throws {
        let now = Timestamp(micros: clock.nowMicros())
        let audit = AuditEvent(occurredAt: now, actor: actor, action: "token.revoke", target: id)
        // Fanned out by the store to the trail of every account the token's user belongs to.
        guard try await store.revokeToken(id: id, at: now, audit: audit) else {
            throw IOLogError.notFound("no active token \(id)")
        }
    }
}

/// Lowercase hexadecimal.
public func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(bytes.count * 2)
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0f)])
    }
    return String(decoding: out, as: UTF8.self)
}
