import Hummingbird
import IOLogCore

/// Establishes who is calling from `Authorization: Bearer <token>`; 401 without a valid token.
///
/// Nothing caches the lookup, so a token revoked with `iolog tokens revoke` is refused at once.
/// A failure past the client address's budget is 429 instead (`AuthFailureLimiter`); a valid
/// token always passes.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = IOLogRequestContext
    let tokens: TokenService
    let metrics: ServiceMetrics
    let failures: AuthFailureLimiter

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    {
        guard let header = request.headers[.authorization], header.count > 7,
            header.prefix(7).lowercased() == "bearer "
        else {
            throw refusal("no_token", APIError.unauthorized("send Authorization: Bearer <token>"), context)
        }
        var token = header.dropFirst(7)
        while token.first == " " || token.first == "\t" { token.removeFirst() }
        while token.last == " " || token.last == "\t" { token.removeLast() }
        let presented = String(token)
        guard let principal = try await tokens.authenticate(presented) else {
            throw refusal("bad_token", APIError.unauthorized("the token is unknown or revoked"), context)
        }
        var context = context
        context.principal = principal
        context.logger[metadataKey: "token"] = .string(principal.tokenID)
        return try await next(request, context)
    }

    /// `unauthorized`, or 429 once the caller's address has used up its failures. Logged with
    /// the client's address (never the token presented), counted by `kind`.
    private func refusal(_ kind: String, _ unauthorized: APIError, _ context: Context) -> APIError {
        let wait = failures.fail(from: context.remoteAddress)
        let counted = wait == nil ? kind : "rate_limited"
        metrics.accessDenied(kind: counted)
        context.logger.notice("authentication refused", metadata: ["kind": "\(counted)", "client": "\(context.clientAddress)"])
        return wait.map { APIError.tooManyFailures(retryAfter: $0) } ?? unauthorized
    }
}

/// Lets through only the principals a group of routes is for; 403 for every other.
struct RequirePrincipal: RouterMiddleware {
    typealias Context = IOLogRequestContext
    let allows: @Sendable (Principal) -> Bool
    /// What the routes need, for the refusal: "a platform token".
    let needs: String
    let metrics: ServiceMetrics

    /// Tokens of one kind.
    static func kind(_ kind: TokenKind, metrics: ServiceMetrics) -> RequirePrincipal {
        RequirePrincipal(allows: { $0.kind == kind }, needs: "a \(kind.rawValue) token", metrics: metrics)
    }

    /// Tokens that may ingest: the gateway's, and accounts' ingest tokens (which the ingest
    /// itself then holds to their own account).
    static func ingest(metrics: ServiceMetrics) -> RequirePrincipal {
        RequirePrincipal(allows: \.mayIngest, needs: "a gateway or an ingest token", metrics: metrics)
    }

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    {
        guard let principal = context.principal, allows(principal) else {
            metrics.accessDenied(kind: "wrong_token_kind")
            throw APIError(status: .forbidden, code: "forbidden", message: "this token may not call this endpoint; it needs \(needs)")
        }
        return try await next(request, context)
    }
}

/// What a user may do in an account (DESIGN §2 rule 4).
enum AccountAccess: Sendable {
    case admin
    case member
    /// Not a member, or no such account: the two are answered alike.
    case outsider
}

extension AppServices {
    /// The one place that decides who may see an account's data, for the API and the pages alike:
    /// an admin of the account passes; a member is refused (403); anyone else, and every unknown
    /// account, is an outsider (404), so existence does not leak.
    ///
    /// A refusal for an account that exists is audited as `access.denied` in its trail with the
    /// route pattern (never the raw path) and the generation id when it is a well-formed one, so
    /// a caller cannot write arbitrary text into a trail; repeats are coalesced (`DenialLog`).
    /// Refusals for accounts that do not exist write nothing. Both look the account up the same
    /// way, and the audit write happens off the request path (`DenialQueue`), so neither the
    /// time nor the outcome of the answer tells whether the account exists.
    func access(accountID: String, userID: String, request: Request, context: IOLogRequestContext) async throws -> AccountAccess {
        let role = try await store.role(accountID: accountID, userID: userID)
        if role == .admin { return .admin }
        metrics.accessDenied(kind: role == .member ? "not_admin" : "outsider")
        let exists = Identifier.isValid(accountID) ? try await store.account(id: accountID) != nil : false
        if exists {
            let route = String((context.endpointPath ?? "unknown").prefix(200))
            let generationID = context.parameters.get("id").flatMap { Identifier.isValid($0) ? $0 : nil }
            denials.submit(.init(accountID: accountID, actor: context.actor, route: "\(request.method) \(route)", generationID: generationID))
        }
        return role == .member ? .member : .outsider
    }
}

/// Applies `AppServices.access` to every `/v1/accounts/{account}/…` admin endpoint. Gateway and
/// platform tokens get 403: they never read.
struct AccountAdminMiddleware: RouterMiddleware {
    typealias Context = IOLogRequestContext
    let services: AppServices

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    {
        guard case .user(_, let userID)? = context.principal else {
            services.metrics.accessDenied(kind: "wrong_token_kind")
            throw APIError(status: .forbidden, code: "forbidden", message: "only a user token of an account admin may call this endpoint")
        }
        let account = try context.parameters.require("account")
        switch try await services.access(accountID: account, userID: userID, request: request, context: context) {
        case .admin: return try await next(request, context)
        case .member: throw APIError(status: .forbidden, code: "forbidden", message: "only admins of this account can do this")
        case .outsider: throw APIError.accountNotFound
        }
    }
}

extension Principal {
    /// The token's public id.
    var tokenID: String {
        switch self {
        case .gateway(let id), .platform(let id), .user(let id, _), .ingest(let id, _): id
        }
    }

    /// The kind of token behind the principal.
    var kind: TokenKind {
        switch self {
        case .gateway: .gateway
        case .platform: .platform
        case .user: .user
        case .ingest: .ingest
        }
    }
}
