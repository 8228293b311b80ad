import Hummingbird
import IOLogCore

/// `POST /v1/generations` and `POST /v1/generations/batch` (DESIGN §4.1): the gateway's token for
/// every account, an account ingest token for its own account only.
struct IngestController {
    /// The most generations one batch may carry.
    static let maximumBatchSize = 1_000

    let services: AppServices

    func register(on group: RouterGroup<IOLogRequestContext>) {
        group.post(use: single)
        group.post("batch", use: batch)
    }

    /// One item of a batch answer; also the body of a single answer that is not an error.
    struct ItemAnswer {
        struct Problem {
            let code: String
            let message: String
            let field: String?
        }
        let id: String?
        let status: String
        var reason: String? = nil
        var error: Problem? = nil

        /// The answer as JSON, written without an encoder (the hot path of every ingest): the
        /// same text `JSONEncoder` with sorted keys wrote before.
        var json: JSONValue {
            var members: [String: JSONValue] = ["status": .string(status)]
            members["id"] = id.map(JSONValue.string)
            members["reason"] = reason.map(JSONValue.string)
            if let error {
                var problem: [String: JSONValue] = ["code": .string(error.code), "message": .string(error.message)]
                problem["field"] = error.field.map(JSONValue.string)
                members["error"] = .object(problem)
            }
            return .object(members)
        }
    }

    @Sendable func single(_ request: Request, context: IOLogRequestContext) async throws -> Response {
        let body = try await JSONBody.read(request, limit: services.maximumBodyBytes, metrics: services.metrics)
        let result = try await ingest([body], context: context)[0]
        switch result {
        case .stored, .duplicate, .skipped:
            return JSONBody.response(Self.answer(for: result).json, status: Self.status(for: result))
        case .conflict(let id):
            throw APIError(status: .conflict, code: "conflict", message: Self.conflictMessage(id))
        case .invalid(_, let error):
            throw APIError.invalid(error)
        case .forbidden(_, let account):
            throw APIError(status: .forbidden, code: "forbidden", message: Self.forbiddenMessage(account))
        }
    }

    @Sendable func batch(_ request: Request, context: IOLogRequestContext) async throws -> Response {
        // `generations[3].routing`: three levels of the request's own field names.
        let body = try await JSONBody.read(request, limit: services.maximumBodyBytes, namedDepth: 3, metrics: services.metrics)
        guard case .array(let items)? = body["generations"] else {
            throw APIError.invalid(FieldError(field: "generations", message: "generations must be an array"))
        }
        guard items.count <= Self.maximumBatchSize else {
            throw APIError.invalid(
                FieldError(field: "generations", message: "a batch holds at most \(Self.maximumBatchSize) generations")
            )
        }
        let results = try await ingest(items, context: context)
        return JSONBody.response(JSONValue.object(["results": .array(results.map { Self.answer(for: $0).json })]))
    }

    /// The account an ingest token is bound to; nil for the gateway's token (every account).
    static func onlyAccount(_ context: IOLogRequestContext) -> String? {
        if case .ingest(_, let accountID)? = context.principal { accountID } else { nil }
    }

    /// Ingests items (posted generations, or generations read from trace spans), held to the
    /// token's account when it is an ingest token; 503 when the write queue is full.
    func ingest(_ items: [JSONValue], context: IOLogRequestContext) async throws -> [IngestResult] {
        do {
            services.metrics.ingestBatch(size: items.count)
            let results = try await services.ingest.ingest(items, onlyAccount: Self.onlyAccount(context))
            services.metrics.ingested(results)
            return results
        } catch is GenerationWriter.Overloaded {
            services.metrics.ingestOverloaded(items.count)
            throw APIError.overloaded
        }
    }

    static func status(for result: IngestResult) -> HTTPResponse.Status {
        switch result {
        case .stored: .created
        case .duplicate: .ok
        case .skipped: .accepted
        case .conflict: .conflict
        case .invalid: .badRequest
        case .forbidden: .forbidden
        }
    }

    static func answer(for result: IngestResult) -> ItemAnswer {
        switch result {
        case .stored(let id): ItemAnswer(id: id, status: "stored")
        case .duplicate(let id): ItemAnswer(id: id, status: "duplicate")
        case .skipped(let id, let reason): ItemAnswer(id: id, status: "skipped", reason: reason.rawValue)
        case .conflict(let id):
            ItemAnswer(id: id, status: "error", error: .init(code: "conflict", message: conflictMessage(id), field: nil))
        case .invalid(let id, let error):
            ItemAnswer(
                id: id,
                status: "error",
                error: .init(code: "invalid_request", message: error.message, field: error.field)
            )
        case .forbidden(let id, let account):
            ItemAnswer(id: id, status: "error", error: .init(code: "forbidden", message: forbiddenMessage(account), field: "account_id"))
        }
    }

    static func forbiddenMessage(_ allowedAccountID: String) -> String {
        "this token may ingest for account \(allowedAccountID) only"
    }

    private static func conflictMessage(_ id: String) -> String {
        "generation \(id) is already stored with different content or under another account"
    }
}
