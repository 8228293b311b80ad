import Foundation
import Hummingbird
import HummingbirdCore
import IOLogCore
import Logging

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
        var items: [UInt8] = [UInt8(ascii: "[")]
        for (index, item) in page.items.enumerated() {
            if index > 0 { items.append(UInt8(ascii: ",")) }
            items.append(contentsOf: item.jsonBytes)
        }
        items.append(UInt8(ascii: "]"))
        var answer = JSONObjectWriter()
        answer.member("data", json: items)
        answer.member("next_cursor", page.next.map { .string($0.token) } ?? .null)
        return JSONBody.response(bytes: answer.finish())
    }

    @Sendable func detail(_ request: Request, context: IOLogRequestContext) async throws -> Response {
        let accountID = try context.parameters.require("account")
        let id = try context.parameters.require("id")
        guard Identifier.isValid(id),
            let detail = try await services.read.detail(accountID: accountID, id: id, actor: context.actor, tokenID: context.principal?.tokenID)
        else {
            throw APIError(status: .notFound, code: "not_found", message: "no such generation")
        }
        return JSONBody.response(bytes: detail.jsonBytes)
    }

    /// JSONL, one generation with its bodies per line, streamed page by page.
    ///
    /// The export is audited before its first byte is sent (if that fails, nothing is sent) and
    /// again when it ends, with the row count and whether it completed. An export that fails
    /// midway ends the connection without the final chunk, so the client sees a truncated
    /// transfer rather than a short file that looks complete.
    @Sendable func export(_ request: Request, context: IOLogRequestContext) async throws -> Response {
        let accountID = try context.parameters.require("account")
        let filter = try QueryParameters.filter(request)
        let export = try await services.read.startExport(
            accountID: accountID,
            filter: filter,
            actor: context.actor,
            tokenID: context.principal?.tokenID
        )
        let logger = context.logger
        return Response(
            status: .ok,
            headers: [
                .contentType: "application/x-ndjson; charset=utf-8",
                .contentDisposition: "attachment; filename=\"\(accountID)-generations.jsonl\"",
            ],
            body: ResponseBody { writer in
                do {
                    try await export.run { detail in
                        var line = detail.jsonBytes
                        line.append(UInt8(ascii: "\n"))
                        try await writer.write(ByteBuffer(bytes: line))
                    }
                } catch {
                    // The status line is already sent: log which account's export failed (never
                    // content), then fail the body so the connection closes without the last chunk.
                    logger.error(
                        "export failed",
                        metadata: Logger.Metadata.describing(error).merging(["account": "\(accountID)"]) { $1 }
                    )
                    throw ExportAborted()
                }
                try await writer.finish(nil)
            }
        )
    }
}

/// Thrown from an export's body to end the connection early; carries nothing.
struct ExportAborted: Error {}

extension Request {
    /// The query string read as HTML forms and most HTTP clients write it
    /// (`application/x-www-form-urlencoded`): `+` is a space, so `model=my+model` finds "my
    /// model"; a plus sign itself arrives as `%2B`. Hummingbird's `queryParameters` decodes
    /// percent-escapes only, so the Logs page's own filter form found nothing for a model or
    /// provider with a space in its name.
    var formQuery: FlatDictionary<Substring, Substring> {
        guard let query = uri.query, query.contains("+") else { return uri.queryParameters }
        return URI("?" + query.replacingOccurrences(of: "+", with: "%20")).queryParameters
    }
}

/// Query-string parsing for the list, export and audit pages. Empty values count as absent,
/// so a filter form submitted with blank fields means "no filter".
enum QueryParameters {
    static func value(_ request: Request, _ name: String) -> String? {
        value(request.formQuery, name)
    }

    private static func value(_ query: FlatDictionary<Substring, Substring>, _ name: String) -> String? {
        guard let value = query[Substring(name)], !value.isEmpty else { return nil }
        return String(value)
    }

    /// The list filters (`GenerationFilter.init(query:daysAllowed:)`).
    static func filter(_ request: Request, daysAllowed: Bool = false) throws -> GenerationFilter {
        do {
            // The query string is parsed once for all six filters.
            let query = request.formQuery
            return try GenerationFilter(query: { value(query, $0) }, daysAllowed: daysAllowed)
        } catch {
            throw APIError.invalid(error)
        }
    }

    static func limit(_ request: Request, default defaultLimit: Int) throws -> Int {
        do {
            return try GenerationFilter.pageLimit(value(request, "limit"), default: defaultLimit)
        } catch {
            throw APIError.invalid(error)
        }
    }
}

extension GenerationSummary {
    /// The metadata as the API answers it (absent values are `null`), written member by member
    /// in key order, with no dictionary to build and sort: the list writes 50 of these per page.
    var jsonBytes: [UInt8] {
        func optional<T>(_ value: T?, _ wrap: (T) -> JSONValue) -> JSONValue { value.map(wrap) ?? .null }
        let m = metadata
        var object = JSONObjectWriter()
        object.member("account_id", .string(accountID))
        object.member("api_key_id", optional(m.apiKeyID, JSONValue.string))
        object.member("cost_usd", optional(m.costUSD, JSONValue.double))
        object.member("created_at", .string(m.createdAt.rfc3339))
        object.member("finish_reason", optional(m.finishReason, JSONValue.string))
        object.member("has_reasoning", .bool(hasReasoning))
        object.member("id", .string(id))
        object.member("latency_ms", optional(m.latencyMilliseconds, JSONValue.integer))
        object.member("model", .string(m.model))
        object.member("provider", .string(m.provider))
        object.member("region", .string(m.region))
        object.member("session_id", optional(m.sessionID, JSONValue.string))
        object.member("streamed", optional(m.streamed, JSONValue.bool))
        var usage = JSONObjectWriter()
        usage.member("completion_tokens", optional(m.completionTokens, JSONValue.integer))
        usage.member("prompt_tokens", optional(m.promptTokens, JSONValue.integer))
        object.member("usage", json: usage.finish())
        object.member("user_id", optional(m.userID, JSONValue.string))
        return object.finish()
    }
}

extension GenerationDetail {
    /// Metadata plus the bodies, as JSON text. The bodies are spliced in as the text they were
    /// sealed as (`OpenedBody`), never parsed and encoded again.
    var jsonBytes: [UInt8] {
        var bytes = summary.jsonBytes
        bytes.removeLast()  // the metadata object's closing brace
        for (name, body) in [("prompt", prompt), ("completion", completion), ("reasoning", reasoning)] {
            bytes.append(contentsOf: ",\"\(name)\":".utf8)
            bytes.append(contentsOf: body?.text ?? Array("null".utf8))
        }
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }
}

extension IOLogRequestContext {
    /// The audit actor of the caller.
    var actor: String { principal?.actor ?? "anonymous" }
}
