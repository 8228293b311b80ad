import Foundation
import Hummingbird
import IOLogCore
import Logging

/// The Logs pages for people (DESIGN §4.4): login, account picker, logs list, detail, settings.
/// Access follows the API exactly (`AppServices.access`); forms that change state carry a CSRF
/// token; content reads are audited by `ReadService`, as for the API.
struct PagesController {
    let services: AppServices
    let renderer: PageRenderer

    /// Rows per page of the logs list.
    static let pageSize = 50
    /// The largest form body a page accepts.
    static let maximumFormBytes = 16 * 1024

    func register(on router: Router<IOLogRequestContext>) {
        let pages = router.group().add(middleware: PageErrorMiddleware(renderer: renderer))
        pages.get("/") { _, _ in Response.redirect(to: "/accounts", type: .found) }
        pages.get("login", use: loginForm)
        pages.post("login", use: login)

        let signedIn = pages.group().add(middleware: WebSessionMiddleware(sessions: services.sessions))
        signedIn.post("logout", use: logout)
        signedIn.get("accounts", use: accounts)
        let account = signedIn.group("accounts/:account").add(middleware: PageAccountMiddleware(services: services))
        account.get("logs", use: logs)
        account.get("logs/:id", use: detail)
        account.get("settings", use: settings)
        account.post("settings/io-logging", use: toggle)
        account.post("settings/ingest-tokens", use: createIngestToken)
        account.post("settings/ingest-tokens/:token/revoke", use: revokeIngestToken)
    }

    // MARK: Sign in and out

    @Sendable func loginForm(_ request: Request, context: IOLogRequestContext) async throws -> Response {
        try loginPage(request, next: request.formQuery["next"].map(String.init), error: nil, status: .ok)
    }

    struct LoginForm: Decodable {
        let token: String?
        let csrf: String?
        let next: String?
    }

    @Sendable func login(_ request: Request, context: IOLogRequestContext) async throws -> Response {
        let form = try await Self.decodeForm(LoginForm.self, request, context)
        let expected = request.cookies[WebCookie.loginCSRF]?.value ?? ""
        guard !expected.isEmpty, SessionService.csrfMatches(form.csrf, expected) else {
            return try loginPage(request, next: form.next, error: "The sign-in form expired. Try again.", status: .forbidden)
        }
        let token = (form.token ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        do {
            let (cookie, session) = try await services.sessions.login(token: token)
            context.logger.notice("signed in", metadata: ["token": "\(session.record.tokenID)", "client": "\(context.clientAddress)"])
            var response = Response.redirect(to: PageURL.safeNext(form.next), type: .normal)
            response.setCookie(WebCookie.make(WebCookie.session, value: cookie, maxAge: Int(SessionService.lifetimeSeconds), request: request))
            response.setCookie(WebCookie.make(WebCookie.loginCSRF, value: "", maxAge: 0, request: request))
            return response
        } catch let error as SessionService.LoginError {
            let wait = services.authFailures.fail(from: context.remoteAddress)
            context.logger.notice(
                "sign-in refused",
                metadata: ["kind": "\(wait == nil ? "bad_token" : "rate_limited")", "client": "\(context.clientAddress)"]
            )
            guard let wait else {
                return try loginPage(request, next: form.next, error: error.message, status: .unauthorized)
            }
            services.metrics.accessDenied(kind: "rate_limited")
            var response = try loginPage(
                request,
                next: form.next,
                error: "Too many failed sign-ins from your address. Wait \(AuthFailureLimiter.retryAfterText(wait)) seconds, then try again.",
                status: .tooManyRequests
            )
            response.headers[.retryAfter] = AuthFailureLimiter.retryAfterText(wait)
            return response
        }
    }

    private func loginPage(_ request: Request, next: String?, error: String?, status: HTTPResponse.Status) throws -> Response {
        let csrf = try SessionService.makeLoginCSRFToken()
        var response = renderer.render("login", LoginView(csrf: csrf, next: PageURL.safeNext(next), error: error), status: status)
        response.setCookie(WebCookie.make(WebCookie.loginCSRF, value: csrf, maxAge: 3600, request: request))
        return response
    }

    struct CSRFForm: Decodable {
        let csrf: String?
    }

    @Sendable func logout(_ request: Request, context: IOLogRequestContext) async throws -> Response {
        let form = try await Self.decodeForm(CSRFForm.self, request, context)
        try Self.requireCSRF(form.csrf, context)
        if let cookie = request.cookies[WebCookie.session]?.value { try await services.sessions.logout(cookie: cookie) }
        var response = Response.redirect(to: "/login", type: .normal)
        response.setCookie(WebCookie.make(WebCookie.session, value: "", maxAge: 0, request: request))
        return response
    }

    // MARK: Accounts

    /// The account picker; a user who admins exactly one account goes straight to its logs.
    @Sendable func accounts(_ request: Request, context: IOLogRequestContext) async throws -> Response {
        let session = try Self.session(context)
        let memberships = try await services.store.memberships(userID: session.record.userID)
        let admin = memberships.filter { $0.role == .admin }
        if admin.count == 1 && memberships.count == 1 {
            return .redirect(to: "/accounts/\(admin[0].account.id)/logs", type: .found)
        }
        let items = memberships.map { account, role in
            AccountsView.Item(
                id: account.id,
                name: account.name ?? account.id,
                kind: account.kind.rawValue,
                role: role.rawValue,
                isAdmin: role == .admin
            )
        }
        return renderer.render("accounts", AccountsView(accounts: items, user: UserBar(session)))
    }

    // MARK: Logs

    @Sendable func logs(_ request: Request, context: IOLogRequestContext) async throws -> Response {
        let session = try Self.session(context)
        let accountID = try context.parameters.require("account")
        let account = try await requireAccount(accountID)
        let query = request.formQuery
        let raw = LogsView.Filter { query[Substring($0)].map(String.init) }
        let path = "/accounts/\(accountID)/logs"
        let filterQuery = LogsView.Filter.names.map { ($0, query[Substring($0)].map(String.init)) }
        var rows: [GenerationSummary] = []
        var newer: ListCursor?
        var older: ListCursor?
        var errorText: String?
        do {
            let filter = try QueryParameters.filter(request, daysAllowed: true)
            if let text = query["before"].map(String.init), !text.isEmpty {
                guard let cursor = ListCursor(token: text) else { throw APIError.badPageLink }
                let page = try await services.read.listNewer(accountID: accountID, filter: filter, than: cursor, limit: Self.pageSize)
                rows = page.items
                newer = page.hasNewer ? rows.first?.cursor : nil
                older = rows.last?.cursor
            } else {
                var cursor: ListCursor?
                if let text = query["cursor"].map(String.init), !text.isEmpty {
                    guard let decoded = ListCursor(token: text) else { throw APIError.badPageLink }
                    cursor = decoded
                }
                let page = try await services.read.list(accountID: accountID, filter: filter, after: cursor, limit: Self.pageSize)
                rows = page.items
                newer = cursor == nil ? nil : rows.first?.cursor
                older = page.next
            }
        } catch let error as APIError where error.status == .badRequest {
            errorText = error.message
        }
        let logging = account.ioLogging
        let view = LogsView(
            accountID: accountID,
            statusLine: "\(account.name ?? account.id)",
            loggingState: logging.enabled ? "logging on" : "logging off",
            filter: raw,
            models: Array(Set(rows.map(\.model))).sorted(),
            rows: rows.map { summary in
                LogsView.Row(
                    href: PageURL.build("\(path)/\(summary.id)", filterQuery),
                    time: PageFormat.time(summary.createdAt),
                    model: summary.model,
                    provider: summary.provider,
                    user: summary.userID ?? "–",
                    tokens: PageFormat.tokens(summary.promptTokens, summary.completionTokens),
                    cost: PageFormat.cost(summary.costUSD),
                    latency: PageFormat.latency(summary.latencyMilliseconds),
                    hasReasoning: summary.hasReasoning
                )
            },
            hasRows: !rows.isEmpty,
            emptyMessage: raw.active
                ? "No generations match these filters."
                : (logging.enabled ? "No generations logged yet." : "No generations logged. Turn on I/O logging in Settings to start."),
            error: errorText,
            newerHref: newer.map { PageURL.build(path, filterQuery + [("before", $0.token)]) },
            olderHref: older.map { PageURL.build(path, filterQuery + [("cursor", $0.token)]) },
            nav: AccountNav(accountID: accountID, accountName: account.name ?? accountID, onLogs: true),
            user: UserBar(session)
        )
        return renderer.render("logs", view, status: errorText == nil ? .ok : .badRequest)
    }

    @Sendable func detail(_ request: Request, context: IOLogRequestContext) async throws -> Response {
        let session = try Self.session(context)
        let accountID = try context.parameters.require("account")
        let id = try context.parameters.require("id")
        let account = try await requireAccount(accountID)
        guard Identifier.isValid(id),
            let detail = try await services.read.detail(accountID: accountID, id: id, actor: context.actor, tokenID: context.principal?.tokenID)
        else {
            throw PageError(status: .notFound, heading: "Not found", message: "This account has no generation with that id.")
        }
        let s = detail.summary
        var metadata: [DetailView.Item] = [
            .init(label: "Model", value: s.model),
            .init(label: "Provider", value: s.provider),
            .init(label: "User", value: s.userID ?? "–"),
            .init(label: "Tokens", value: PageFormat.tokens(s.promptTokens, s.completionTokens)),
            .init(label: "Cost", value: PageFormat.cost(s.costUSD)),
            .init(label: "Latency", value: PageFormat.latency(s.latencyMilliseconds)),
            .init(label: "Finish", value: s.finishReason ?? "–"),
            .init(label: "Region", value: s.region),
        ]
        if let streamed = s.streamed { metadata.append(.init(label: "Streamed", value: streamed ? "yes" : "no")) }
        if let key = s.apiKeyID { metadata.append(.init(label: "API key", value: key, mono: true)) }
        if let session = s.sessionID {
            let sameSession = PageURL.build("/accounts/\(accountID)/logs", [("session_id", session)])
            metadata.append(.init(label: "Session", value: session, mono: true, href: sameSession, linkID: "same-session"))
        }
        var tabs = [
            DetailView.Tab(key: "prompt", title: "Prompt", body: BodyView(try detail.prompt.value()), first: true),
            DetailView.Tab(key: "completion", title: "Completion", body: BodyView(try detail.completion.value()), first: false),
        ]
        if let reasoning = detail.reasoning {
            tabs.append(DetailView.Tab(key: "reasoning", title: "Reasoning", body: BodyView(try reasoning.value()), first: false))
        }
        let query = request.formQuery
        let back = PageURL.build(
            "/accounts/\(accountID)/logs",
            LogsView.Filter.names.map { ($0, query[Substring($0)].map(String.init)) }
        )
        let view = DetailView(
            title: "Generation \(s.id)",
            id: s.id,
            time: PageFormat.time(s.createdAt),
            backHref: back,
            metadata: metadata,
            tabs: tabs,
            nav: AccountNav(accountID: accountID, accountName: account.name ?? accountID, onLogs: true),
            user: UserBar(session)
        )
        return renderer.render("detail", view)
    }

    // MARK: Settings

    /// Events per page of the access history.
    static let accessHistoryPageSize = 50

    @Sendable func settings(_ request: Request, context: IOLogRequestContext) async throws -> Response {
        var before: Int64?
        if let text = QueryParameters.value(request, "access_before") {
            guard let sequence = Int64(text), sequence > 0 else { throw PageError.notFound }
            before = sequence
        }
        return try await settingsPage(context, accessBefore: before, newToken: nil)
    }

    /// The Settings page; `newToken` is a token just made, whose secret this answer alone shows.
    private func settingsPage(_ context: IOLogRequestContext, accessBefore before: Int64?, newToken: String?) async throws -> Response {
        let session = try Self.session(context)
        let accountID = try context.parameters.require("account")
        let account = try await requireAccount(accountID)
        let page = try await services.read.auditTrail(
            accountID: accountID,
            actions: ReadService.accessActions,
            before: before,
            limit: Self.accessHistoryPageSize
        )
        let tokens = Dictionary(try await services.store.tokens().map { ($0.id, $0) }) { first, _ in first }
        let access = AccessHistoryView(
            events: page.items,
            tokens: tokens,
            olderHref: page.next.map { "/accounts/\(accountID)/settings?access_before=\($0)#access-history" }
        )
        return renderer.render(
            "settings",
            SettingsView(
                accountID: accountID,
                setting: account.ioLogging,
                retention: services.retention,
                access: access,
                ingestTokens: try await services.tokens.ingestTokens(accountID: accountID),
                newToken: newToken,
                session: session,
                nav: settingsNav(account)
            )
        )
    }

    struct IngestTokenForm: Decodable {
        let csrf: String?
        let label: String?
    }

    /// Makes an ingest token and answers with the Settings page showing it once (no redirect:
    /// the secret must never be in a URL or a second request).
    @Sendable func createIngestToken(_ request: Request, context: IOLogRequestContext) async throws -> Response {
        let accountID = try context.parameters.require("account")
        let form = try await Self.decodeForm(IngestTokenForm.self, request, context)
        try Self.requireCSRF(form.csrf, context)
        let label = form.label.flatMap { $0.isEmpty ? nil : $0 }
        do {
            let issued = try await services.tokens.create(kind: .ingest, accountID: accountID, label: label, actor: context.actor)
            return try await settingsPage(context, accessBefore: nil, newToken: issued.token)
        } catch let error as IOLogError where error.code == .invalidInput {
            throw PageError(status: .badRequest, heading: "Bad request", message: error.message)
        }
    }

    struct RevokeForm: Decodable {
        let csrf: String?
    }

    @Sendable func revokeIngestToken(_ request: Request, context: IOLogRequestContext) async throws -> Response {
        let accountID = try context.parameters.require("account")
        let tokenID = try context.parameters.require("token")
        let form = try await Self.decodeForm(RevokeForm.self, request, context)
        try Self.requireCSRF(form.csrf, context)
        do {
            try await services.tokens.revokeIngestToken(id: tokenID, accountID: accountID, actor: context.actor)
        } catch let error as IOLogError where error.code == .notFound {
            throw PageError.notFound
        }
        return .redirect(to: "/accounts/\(accountID)/settings#ingest-tokens", type: .normal)
    }

    struct ToggleForm: Decodable {
        let csrf: String?
        let enabled: String?
    }

    @Sendable func toggle(_ request: Request, context: IOLogRequestContext) async throws -> Response {
        let accountID = try context.parameters.require("account")
        let form = try await Self.decodeForm(ToggleForm.self, request, context)
        try Self.requireCSRF(form.csrf, context)
        guard let enabled = form.enabled.flatMap({ ["true": true, "false": false][$0] }) else {
            throw PageError(status: .badRequest, heading: "Bad request", message: "The form did not say whether to turn logging on or off.")
        }
        _ = try await services.setIOLogging(accountID: accountID, enabled: enabled, actor: context.actor)
        return .redirect(to: "/accounts/\(accountID)/settings", type: .normal)
    }

    // MARK: Helpers

    private func requireAccount(_ id: String) async throws -> Account {
        guard let account = try await services.store.account(id: id) else { throw PageError.notFound }
        return account
    }

    private func settingsNav(_ account: Account) -> AccountNav {
        AccountNav(accountID: account.id, accountName: account.name ?? account.id, onSettings: true)
    }

    private static func session(_ context: IOLogRequestContext) throws -> WebSession {
        guard let session = context.webSession else { throw PageError.notFound }
        return session
    }

    private static func requireCSRF(_ submitted: String?, _ context: IOLogRequestContext) throws {
        guard let session = context.webSession, SessionService.csrfMatches(submitted, session.csrfToken) else {
            throw PageError(
                status: .forbidden,
                heading: "Form expired",
                message: "This form was not sent from the page iolog showed you. Reload the page and try again."
            )
        }
    }

    /// Forms are `application/x-www-form-urlencoded`, at most 16 KiB, decoded by Hummingbird.
    private static func decodeForm<Form: Decodable>(_ type: Form.Type, _ request: Request, _ context: IOLogRequestContext) async throws -> Form {
        guard request.headers[.contentType]?.hasPrefix("application/x-www-form-urlencoded") == true else {
            throw PageError(
                status: .unsupportedMediaType,
                heading: "Unsupported form",
                message: "Forms must be sent as application/x-www-form-urlencoded."
            )
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: Self.maximumFormBytes)
        } catch {
            throw PageError(status: .contentTooLarge, heading: "Form too large", message: "The form is larger than 16 KiB.")
        }
        do {
            return try URLEncodedFormDecoder().decode(Form.self, from: String(buffer: buffer))
        } catch {
            throw PageError(status: .badRequest, heading: "Bad form", message: "The form could not be read.")
        }
    }
}

extension APIError {
    static let badPageLink = APIError.invalid(
        FieldError(field: "cursor", message: "That page link is not one iolog made. Start again from the first page.")
    )
}
