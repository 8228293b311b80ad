import Foundation
import Hummingbird
import IOLogCore

/// The admin read path (DESIGN §4.2): list, detail, export. Behind `AccountAdminMiddleware`.
struct GenerationsController {
    let services: AppServices

    func register(on group: RouterGroup<IOLogRequestContext>) {
        group.get("generations", use: list)
        group.get("generations/:id", use: detail)
        group.get("export", use: export)
    }

    @Sendable func list(_ request: Request, context: IOLogRequestContext) async throws -> Response {
        let accountID = try context.parameters.require("account")
        let filter = try QueryParameters.filter(request)
        let limit = try QueryParameters.limit(request, default: 50)
        var cursor: ListCursor?
        if let text = QueryParameters.value(request, "cursor") {
            guard let decoded = ListCursor(token: text) else {
                throw APIError.invalid(FieldError(field: "cursor", message: "cursor is not one this service issued"))
            }
            cursor = decoded
        }
        let page = try await services.read.list(accountID: accountID, filter: filter, after: cursor, limit: limit)
        struct Answer: Encodable {
            let data: [SummaryJSON]
            let next_cursor: String?

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(data, forKey: .data)
                try container.encode(next_cursor, forKey: .next_cursor)
            }
            enum CodingKeys: String, CodingKey { case data, next_cursor }
        }
        return try JSONBody.response(Answer(data: page.items.map(SummaryJSON.init), next_cursor: page.next?.token))
    }

    @Sendable func detail(_ request: Request, context: IOLogRequestContext) async throws -> Response {
        let accountID = try context.parameters.require("account")
        let id = try context.parameters.require("id")
        guard Identifier.isValid(id),
            let detail = try await services.read.detail(accountID: accountID, id: id, actor: context.actor)
        else {
            throw APIError(status: .notFound, code: "not_found", message: "no such generation")
        }
        return try JSONBody.response(DetailJSON(detail))
    }

    /// JSONL, one generation with its bodies per line, streamed page by page.
    @Sendable func export(_ request: Request, context: IOLogRequestContext) async throws -> Response {
        let accountID = try context.parameters.require("account")
        let filter = try QueryParameters.filter(request)
        let read = services.read
        let actor = context.actor
        let logger = context.logger
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Response(
            status: .ok,
            headers: [
                .contentType: "application/x-ndjson; charset=utf-8",
                .contentDisposition: "attachment; filename=\"\(accountID)-generations.jsonl\"",
            ],
            body: ResponseBody { writer in
                do {
                    try await read.export(accountID: accountID, filter: filter, actor: actor) { detail in
                        var line = try encoder.encode(DetailJSON(detail))
                        line.append(UInt8(ascii: "\n"))
                        try await writer.write(ByteBuffer(bytes: line))
                    }
                } catch {
                    // The status line is already sent; end the stream early so the client sees a
                    // truncated download, and log which account's export failed (never content).
                    logger.error("export failed", metadata: ["account": "\(accountID)", "error": "\(String(reflecting: type(of: error)))"])
                }
                try await writer.finish(nil)
            }
        )
    }
}

/// Query-string parsing for the list, export and audit pages. Empty values count as absent,
/// so a filter form submitted with blank fields means "no filter".
enum QueryParameters {
    static func value(_ request: Request, _ name: String) -> String? {
        guard let value = request.uri.queryParameters[Substring(name)], !value.isEmpty else { return nil }
        return String(value)
    }

    /// The list filters. With `daysAllowed` (the Logs page's date inputs), `from` and `to` may
    /// also be plain dates: `from` a day means its start, `to` a day means through its end (UTC).
    static func filter(_ request: Request, daysAllowed: Bool = false) throws -> GenerationFilter {
        var filter = GenerationFilter()
        for (name, keyPath) in [("model", \GenerationFilter.model), ("provider", \.provider)] {
            if let text = value(request, name) {
                guard text.utf8.count <= GenerationInput.maximumLabelLength else {
                    throw APIError.invalid(FieldError(field: name, message: "\(name) must be at most 256 bytes"))
                }
                filter[keyPath: keyPath] = text
            }
        }
        if let user = value(request, "user_id") {
            guard Identifier.isValid(user) else {
                throw APIError.invalid(FieldError(field: "user_id", message: "user_id must be 1–128 characters of A-Z a-z 0-9 . _ : -"))
            }
            filter.userID = user
        }
        for (name, keyPath) in [("from", \GenerationFilter.from), ("to", \.to)] {
            if let text = value(request, name) {
                if daysAllowed, let day = RFC3339.parse(text + "T00:00:00Z"), text.utf8.count == 10 {
                    filter[keyPath: keyPath] = name == "to" ? Timestamp(micros: day.micros + 86_400_000_000) : day
                    continue
                }
                guard let time = RFC3339.parse(text) else {
                    throw APIError.invalid(
                        FieldError(field: name, message: "\(name) must be an RFC 3339 timestamp\(daysAllowed ? " or a date (YYYY-MM-DD)" : "")")
                    )
                }
                filter[keyPath: keyPath] = time
            }
        }
        if let from = filter.from, let to = filter.to, from >= to {
            throw APIError.invalid(FieldError(field: "to", message: "to must be after from"))
        }
        return filter
    }

    static func limit(_ request: Request, default defaultLimit: Int) throws -> Int {
        guard let text = value(request, "limit") else { return defaultLimit }
        guard let limit = Int(text), (1...ReadService.maximumPageSize).contains(limit) else {
            throw APIError.invalid(FieldError(field: "limit", message: "limit must be a whole number from 1 to \(ReadService.maximumPageSize)"))
        }
        return limit
    }
}

/// A generation's metadata as JSON; absent values are `null`.
struct SummaryJSON: Encodable {
    let summary: GenerationSummary

    init(_ summary: GenerationSummary) { self.summary = summary }

    enum CodingKeys: String, CodingKey {
        case id, account_id, created_at, user_id, api_key_id, model, provider, region, usage, cost_usd, latency_ms,
            finish_reason, streamed, has_reasoning
    }

    struct Usage: Encodable {
        let prompt_tokens: Int64?
        let completion_tokens: Int64?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(prompt_tokens, forKey: .prompt_tokens)
            try container.encode(completion_tokens, forKey: .completion_tokens)
        }
        enum CodingKeys: String, CodingKey { case prompt_tokens, completion_tokens }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try encode(into: &container)
    }

    func encode(into container: inout KeyedEncodingContainer<CodingKeys>) throws {
        try container.encode(summary.id, forKey: .id)
        try container.encode(summary.accountID, forKey: .account_id)
        try container.encode(summary.createdAt.rfc3339, forKey: .created_at)
        try container.encode(summary.userID, forKey: .user_id)
        try container.encode(summary.apiKeyID, forKey: .api_key_id)
        try container.encode(summary.model, forKey: .model)
        try container.encode(summary.provider, forKey: .provider)
        try container.encode(summary.region, forKey: .region)
        try container.encode(Usage(prompt_tokens: summary.promptTokens, completion_tokens: summary.completionTokens), forKey: .usage)
        try container.encode(summary.costUSD, forKey: .cost_usd)
        try container.encode(summary.latencyMilliseconds, forKey: .latency_ms)
        try container.encode(summary.finishReason, forKey: .finish_reason)
        try container.encode(summary.streamed, forKey: .streamed)
        try container.encode(summary.hasReasoning, forKey: .has_reasoning)
    }
}

/// Metadata plus the opened bodies.
struct DetailJSON: Encodable {
    let detail: GenerationDetail

    init(_ detail: GenerationDetail) { self.detail = detail }

    enum BodyKeys: String, CodingKey { case prompt, completion, reasoning }

    func encode(to encoder: any Encoder) throws {
        var metadata = encoder.container(keyedBy: SummaryJSON.CodingKeys.self)
        try SummaryJSON(detail.summary).encode(into: &metadata)
        var bodies = encoder.container(keyedBy: BodyKeys.self)
        try bodies.encode(detail.prompt, forKey: .prompt)
        try bodies.encode(detail.completion, forKey: .completion)
        try bodies.encode(detail.reasoning ?? .null, forKey: .reasoning)
    }
}

extension IOLogRequestContext {
    /// The audit actor of the caller.
    var actor: String { principal?.actor ?? "anonymous" }
}
