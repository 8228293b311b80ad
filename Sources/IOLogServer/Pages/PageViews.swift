import Foundation
import IOLogCore

// The values the templates render. Plain structs: swift-mustache reads their properties.

struct ErrorView: PageView {
    let title: String
    let heading: String
    let message: String
    let homeHref: String
    let homeLabel: String
    let nav: AccountNav? = nil
    let user: UserBar?

    init(error: PageError, session: WebSession?) {
        title = error.heading
        heading = error.heading
        message = error.message
        user = UserBar(session)
        homeHref = session == nil ? "/login" : "/accounts"
        homeLabel = session == nil ? "Sign in" : "Your accounts"
    }
}

struct LoginView: PageView {
    let title = "Sign in"
    let csrf: String
    let next: String
    let error: String?
    let nav: AccountNav? = nil
    let user: UserBar? = nil
}

struct AccountsView: PageView {
    struct Item {
        let id: String
        let name: String
        let kind: String
        let role: String
        let isAdmin: Bool
    }
    let title = "Your accounts"
    let accounts: [Item]
    // Stored, not computed: swift-mustache reads stored properties only.
    let hasAccounts: Bool
    let nav: AccountNav? = nil
    let user: UserBar?

    init(accounts: [Item], user: UserBar?) {
        self.accounts = accounts
        hasAccounts = !accounts.isEmpty
        self.user = user
    }
}

struct LogsView: PageView {
    struct Filter {
        let model: String
        let provider: String
        let userID: String
        let sessionID: String
        let from: String
        let to: String
        let active: Bool

        /// The filters as the page's query string holds them (absent ones empty).
        init(_ query: (String) -> String?) {
            model = query("model") ?? ""
            provider = query("provider") ?? ""
            userID = query("user_id") ?? ""
            sessionID = query("session_id") ?? ""
            from = query("from") ?? ""
            to = query("to") ?? ""
            active = !(model + provider + userID + sessionID + from + to).isEmpty
        }

        /// The names of the filters a page link carries, in the form's order.
        static let names = ["model", "provider", "user_id", "session_id", "from", "to"]
    }
    struct Row {
        let href: String
        let time: String
        let model: String
        let provider: String
        let user: String
        let tokens: String
        let cost: String
        let latency: String
        let hasReasoning: Bool
    }
    let title = "Logs"
    let accountID: String
    let statusLine: String
    let loggingState: String
    let filter: Filter
    let models: [String]
    let rows: [Row]
    let hasRows: Bool
    let emptyMessage: String
    let error: String?
    let newerHref: String?
    let olderHref: String?
    let nav: AccountNav?
    let user: UserBar?
}

struct DetailView: PageView {
    struct Item {
        let label: String
        let value: String
        var mono = false
        /// A link on the value, and the link's element id.
        var href: String? = nil
        var linkID = ""
    }
    struct Tab {
        let key: String
        let title: String
        let body: BodyView
        let first: Bool
    }
    let title: String
    let id: String
    let time: String
    let backHref: String
    let metadata: [Item]
    let tabs: [Tab]
    let nav: AccountNav?
    let user: UserBar?
}

struct SettingsView: PageView {
    /// One of the account's active ingest tokens.
    struct IngestToken {
        let id: String
        let label: String
        let created: String
        let createdBy: String
    }
    let title = "Settings"
    let accountID: String
    let access: AccessHistoryView
    let ingestTokens: [IngestToken]
    let hasIngestTokens: Bool
    /// A token just made: its secret, shown on this one answer and never again.
    let newToken: String?
    let csrf: String
    let stateText: String
    let stateClass: String
    let nextValue: String
    let buttonText: String
    let buttonClass: String
    let retention: String
    let error: String?
    let nav: AccountNav?
    let user: UserBar?

    init(
        accountID: String,
        setting: IOLoggingSetting,
        retention: RetentionPolicy,
        access: AccessHistoryView,
        ingestTokens: [TokenRecord],
        newToken: String?,
        session: WebSession,
        nav: AccountNav,
        error: String? = nil
    ) {
        self.accountID = accountID
        self.access = access
        self.ingestTokens = ingestTokens.filter { $0.revokedAt == nil }.map { token in
            IngestToken(
                id: token.id,
                label: token.label ?? "",
                created: PageFormat.time(token.createdAt),
                createdBy: token.createdBy ?? "–"
            )
        }
        hasIngestTokens = !self.ingestTokens.isEmpty
        self.newToken = newToken
        self.retention =
            retention.months.map { "\($0) calendar months after they were made, then removes them" } ?? "until they are deleted on request"
        csrf = session.csrfToken
        if setting.enabled {
            let since = setting.enabledAt.map { " since " + PageFormat.time($0) + " UTC" } ?? ""
            stateText = "On\(since). New generations of this account are stored encrypted."
            stateClass = "on"
            nextValue = "false"
            buttonText = "Turn logging off"
            buttonClass = "danger"
        } else {
            stateText = "Off. Nothing new is stored."
            stateClass = "off"
            nextValue = "true"
            buttonText = "Turn logging on"
            buttonClass = ""
        }
        self.error = error
        self.nav = nav
        user = UserBar(session)
    }
}

/// The Settings page's access history: every event that granted or used access to the
/// account's content, newest first, in words, with the token each one used and who made that
/// token, when and for whom (every user token is made on the server, so that is what tells an
/// admin's own token from one made for someone else's use).
struct AccessHistoryView {
    struct Row {
        let time: String
        let actor: String
        let what: String
        let token: String?
        /// Who made the token, when, and for whom: an admin tells their own tokens from others.
        let tokenOrigin: String?
    }
    let rows: [Row]
    let hasRows: Bool
    let olderHref: String?

    init(events: [StoredAuditEvent], tokens: [String: TokenRecord], olderHref: String?) {
        rows = events.map { stored in
            let event = stored.event
            let detail = event.detail.flatMap { try? JSONParser.parse(Array($0.utf8), limits: .stored) }
            func text(_ key: String) -> String? {
                if case .string(let value)? = detail?[key] { return value }
                return nil
            }
            let target = event.target ?? "–"
            let what: String
            var tokenID = text("token_id")
            switch event.action {
            case "account.upsert": what = "Account saved as \(text("kind") ?? "an account")"
            case "membership.set": what = "\(target) became \(text("role") == "admin" ? "an admin" : "a member")"
            case "membership.remove": what = "\(target) removed from the account"
            case "token.create" where text("kind") == "ingest":
                what = "Ingest token made" + (text("label").map { " (\($0))" } ?? "") + ": it can send this account's generations"
                tokenID = event.target
            case "token.create":
                what = "Token made for \(text("user_id") ?? "no user")"
                tokenID = event.target
            case "token.revoke":
                what = "Token revoked"
                tokenID = event.target
            case "token.access":
                what = "Token of \(text("user_id") ?? "a user") can now read this account"
                tokenID = event.target
            case "generation.read": what = "Read generation \(target)"
            case "generation.export": what = "Export started"
            case "generation.export.end":
                let rows = detail?["rows"].flatMap { if case .number(let n) = $0 { n.literal } else { nil } } ?? "?"
                let complete = detail?["complete"] == .bool(true)
                what = complete ? "Export finished: \(rows) generations" : "Export failed after \(rows) generations"
            default: what = event.action
            }
            // A change made through the platform API: show who made the platform token used.
            if tokenID == nil, event.actor.hasPrefix("platform:") { tokenID = String(event.actor.dropFirst("platform:".count)) }
            let origin = tokenID.flatMap { tokens[$0] }.map { token in
                "made by \(token.createdBy ?? "an earlier version") on \(PageFormat.time(token.createdAt))"
                    + (token.userID.map { " for \($0)" } ?? "")
            }
            return Row(time: PageFormat.time(event.occurredAt), actor: event.actor, what: what, token: tokenID, tokenOrigin: origin)
        }
        hasRows = !rows.isEmpty
        self.olderHref = olderHref
    }
}

/// A prompt, completion or reasoning body made readable: chat messages one by one with their
/// role; plain text as text; anything else as indented JSON.
struct BodyView {
    struct Message {
        let role: String
        let roleClass: String
        let name: String?
        let text: String?
        let json: String?
    }
    var messages: [Message] = []
    var text: String?
    var json: String?

    init(_ value: JSONValue) {
        switch value {
        case .string(let string):
            text = string
        case .array(let items) where !items.isEmpty && items.allSatisfy({ Self.isMessage($0) }):
            messages = items.map(Self.message)
        case _ where Self.isMessage(value):
            messages = [Self.message(value)]
        default:
            json = value.prettyText
        }
    }

    private static func isMessage(_ value: JSONValue) -> Bool {
        if case .string? = value["role"] { return true }
        return false
    }

    private static func message(_ value: JSONValue) -> Message {
        guard case .object(let fields) = value, case .string(let role)? = value["role"] else {
            return Message(role: "message", roleClass: "other", name: nil, text: nil, json: value.prettyText)
        }
        var name: String?
        if case .string(let text)? = value["name"] { name = text }
        var text: String?
        var rest = fields.filter { $0.key != "role" && $0.key != "name" }
        switch value["content"] {
        case .string(let string)?:
            text = string
            rest["content"] = nil
        case .array(let parts)?:
            // Content parts: the text parts read as text; images and the like stay as JSON.
            let texts = parts.compactMap { part -> String? in
                if case .string(let text)? = part["text"] { return text }
                return nil
            }
            if texts.count == parts.count {
                text = texts.joined(separator: "\n\n")
                rest["content"] = nil
            }
        case .null?:
            rest["content"] = nil
        default:
            break
        }
        let roleClass = ["system", "user", "assistant", "tool", "developer"].contains(role) ? role : "other"
        return Message(
            role: role,
            roleClass: roleClass,
            name: name,
            text: text,
            json: rest.isEmpty ? nil : JSONValue.object(rest).prettyText
        )
    }
}

/// Formatting of values for people.
enum PageFormat {
    /// `2026-11-22 14:03:12` (UTC, seconds).
    static func time(_ timestamp: Timestamp) -> String {
        let text = timestamp.rfc3339
        return String(text.prefix(19)).replacingOccurrences(of: "T", with: " ")
    }

    /// `1,200 → 350`.
    static func tokens(_ prompt: Int64?, _ completion: Int64?) -> String {
        switch (prompt, completion) {
        case (nil, nil): return "–"
        default: return "\(number(prompt)) → \(number(completion))"
        }
    }

    static func number(_ value: Int64?) -> String {
        guard let value else { return "–" }
        let digits = Array(String(value.magnitude))
        var out = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return value < 0 ? "-" + out : out
    }

    /// `$0.004125`, up to six decimals without trailing zeros.
    static func cost(_ value: Double?) -> String {
        guard let value else { return "–" }
        var text = String(format: "%.6f", value)
        while text.hasSuffix("0") && !text.hasSuffix(".00") { text.removeLast() }
        return "$" + text
    }

    static func latency(_ milliseconds: Int64?) -> String {
        guard let milliseconds else { return "–" }
        return milliseconds >= 10_000 ? String(format: "%.1f s", Double(milliseconds) / 1000) : "\(number(milliseconds)) ms"
    }
}
