import Hummingbird
import IOLogCore

/// The platform's sync of accounts and memberships (DESIGN §4.3), platform tokens only.
struct PlatformController {
    /// Platform bodies are a few fields; anything bigger is a mistake.
    static let bodyLimit = 64 * 1024

    let services: AppServices

    func register(on group: RouterGroup<IOLogRequestContext>) {
        group.put(":account", use: upsertAccount)
        group.put(":account/members/:user", use: setMember)
        group.delete(":account/members/:user", use: removeMember)
    }

    @Sendable func upsertAccount(_ request: Request, context: IOLogRequestContext) async throws -> Response {
        let accountID = try Self.identifier(context, "account")
        let body = try await JSONBody.read(request, limit: Self.bodyLimit)
        guard case .string(let kindText)? = body["kind"], let kind = AccountKind(rawValue: kindText) else {
            throw APIError.invalid(FieldError(field: "kind", message: "kind must be \"personal\" or \"organization\""))
        }
        var name: String?
        switch body["name"] {
        case nil, .null?: break
        case .string(let text)? where text.utf8.count <= 256: name = text
        default: throw APIError.invalid(FieldError(field: "name", message: "name must be a string of at most 256 bytes"))
        }
        let account = try await services.directory.upsertAccount(id: accountID, kind: kind, name: name, actor: context.actor)
        return try JSONBody.response(AccountAnswer(account))
    }

    @Sendable func setMember(_ request: Request, context: IOLogRequestContext) async throws -> Response {
        let accountID = try Self.identifier(context, "account")
        let userID = try Self.identifier(context, "user")
        let body = try await JSONBody.read(request, limit: Self.bodyLimit)
        guard case .string(let roleText)? = body["role"], let role = Role(rawValue: roleText) else {
            throw APIError.invalid(FieldError(field: "role", message: "role must be \"admin\" or \"member\""))
        }
        do {
            try await services.directory.setRole(accountID: accountID, userID: userID, role: role, actor: context.actor)
        } catch let error as IOLogError where error.code == .notFound {
            throw APIError(status: .notFound, code: "not_found", message: "no account \(accountID); create it first")
        }
        struct Membership: Encodable {
            let account_id: String
            let user_id: String
            let role: String
        }
        return try JSONBody.response(Membership(account_id: accountID, user_id: userID, role: role.rawValue))
    }

    /// Idempotent: removing a membership that does not exist also answers 204.
    @Sendable func removeMember(_ request: Request, context: IOLogRequestContext) async throws -> Response {
        let accountID = try Self.identifier(context, "account")
        let userID = try Self.identifier(context, "user")
        _ = try await services.directory.removeMember(accountID: accountID, userID: userID, actor: context.actor)
        return Response(status: .noContent)
    }

    private static func identifier(_ context: IOLogRequestContext, _ name: String) throws -> String {
        let value = try context.parameters.require(name)
        guard Identifier.isValid(value) else {
            throw APIError.invalid(FieldError(field: name, message: "\(name) must be 1–128 characters of A-Z a-z 0-9 . _ : -"))
        }
        return value
    }
}

/// An account as the API shows it.
struct AccountAnswer: Encodable {
    let id: String
    let kind: String
    let name: String?
    let io_logging: IOLoggingAnswer

    init(_ account: Account) {
        id = account.id
        kind = account.kind.rawValue
        name = account.name
        io_logging = IOLoggingAnswer(account.ioLogging)
    }

    private enum CodingKeys: String, CodingKey { case id, kind, name, io_logging }

    func encode(to encoder: any Encoder) throws {
        // `name` is always present, null when the account has none, as the schema requires.
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(kind, forKey: .kind)
        try container.encode(name, forKey: .name)
        try container.encode(io_logging, forKey: .io_logging)
    }
}

/// `{"enabled": bool, "enabled_at": ts|null}`
struct IOLoggingAnswer: Encodable {
    let enabled: Bool
    let enabled_at: String?

    init(_ setting: IOLoggingSetting) {
        enabled = setting.enabled
        enabled_at = setting.enabledAt?.rfc3339
    }

    func encode(to encoder: any Encoder) throws {
        // Always present, null when never enabled, as the contract shows.
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(enabled, forKey: .enabled)
        try container.encode(enabled_at, forKey: .enabled_at)
    }

    private enum CodingKeys: String, CodingKey {
        case enabled
        case enabled_at
    }
}
