import Hummingbird
import IOLogCore

/// `POST/GET /v1/accounts/{account}/deletion-requests`: an account admin files a deletion
/// request (pending until support runs `iolog deletion run`) and follows its receipt.
struct DeletionRequestsController {
    let services: AppServices

    func register(on group: RouterGroup<IOLogRequestContext>) {
        group.post("deletion-requests", use: create)
        group.get("deletion-requests", use: list)
    }

    /// Body: `{"ticket"?: string, "generation_ids"?: [id], "before"?: RFC 3339, "user_id"?: id}`
    /// (at most one of the last three); with none of them the scope is the whole account.
    @Sendable func create(_ request: Request, context: IOLogRequestContext) async throws -> Response {
        let accountID = try context.parameters.require("account")
        guard case .user(_, let requester)? = context.principal else { throw APIError.accountNotFound }
        let body = try await JSONBody.read(request, limit: 1024 * 1024)
        guard case .object(let fields) = body else {
            throw APIError.invalid(FieldError(field: nil, message: "the body must be a JSON object"))
        }
        for key in fields.keys where !["ticket", "generation_ids", "before", "user_id"].contains(key) {
            throw APIError.invalid(FieldError(field: key, message: "\(key) is not a field of a deletion request"))
        }
        var ticket = "filed by an account admin through the API"
        switch body["ticket"] {
        case nil, .null?: break
        case .string(let text)?: ticket = text
        default: throw APIError.invalid(FieldError(field: "ticket", message: "ticket must be a string"))
        }
        let ids = body["generation_ids"].flatMap { $0 == .null ? nil : $0 }
        let before = body["before"].flatMap { $0 == .null ? nil : $0 }
        let user = body["user_id"].flatMap { $0 == .null ? nil : $0 }
        var scope = DeletionScope.account
        switch (ids, before) {
        case (nil, nil):
            guard let user else { break }
            guard case .string(let userID) = user, Identifier.isValid(userID) else {
                throw APIError.invalid(FieldError(field: "user_id", message: "user_id must be 1–128 characters of A-Z a-z 0-9 . _ : -"))
            }
            scope = .user(userID)
        case (_, _) where user != nil:
            throw APIError.invalid(FieldError(field: "user_id", message: "give one of generation_ids, before and user_id"))
        case (.some, .some): throw APIError.invalid(FieldError(field: "before", message: "give generation_ids or before, not both"))
        case (.some(let value), nil):
            guard case .array(let items) = value, !items.isEmpty, items.count <= DeletionService.maximumGenerationIDs else {
                throw APIError.invalid(
                    FieldError(field: "generation_ids", message: "generation_ids must be an array of 1–\(DeletionService.maximumGenerationIDs) ids")
                )
            }
            var list: [String] = []
            for item in items {
                guard case .string(let id) = item, Identifier.isValid(id) else {
                    throw APIError.invalid(
                        FieldError(field: "generation_ids", message: "each generation id must be 1–128 characters of A-Z a-z 0-9 . _ : -")
                    )
                }
                list.append(id)
            }
            scope = .generations(list)
        case (nil, .some(let value)):
            guard case .string(let text) = value, let time = RFC3339.parse(text) else {
                throw APIError.invalid(FieldError(field: "before", message: "before must be an RFC 3339 timestamp"))
            }
            scope = .before(time)
        }
        do {
            let filed = try await DeletionDesk(store: services.store, clock: services.clock)
                .request(accountID: accountID, requestedBy: requester, ticket: ticket, scope: scope, filedBy: context.actor)
            return try JSONBody.response(DeletionRequestJSON(filed), status: .created)
        } catch let error as IOLogError where error.code == .invalidInput {
            // The fields were checked above; what is left is the ticket's shape.
            throw APIError.invalid(FieldError(field: "ticket", message: error.message))
        }
    }

    @Sendable func list(_ request: Request, context: IOLogRequestContext) async throws -> Response {
        let accountID = try context.parameters.require("account")
        let requests = try await services.store.deletionRequests(accountID: accountID, status: nil)
        struct Answer: Encodable { let data: [DeletionRequestJSON] }
        return try JSONBody.response(Answer(data: requests.map(DeletionRequestJSON.init)))
    }
}

/// A deletion request and its receipt as JSON; absent values are `null`.
struct DeletionRequestJSON: Encodable {
    let request: DeletionRequest

    init(_ request: DeletionRequest) { self.request = request }

    enum CodingKeys: String, CodingKey {
        case id, account_id, status, scope, ticket, requested_by, filed_by, created_at, run_by, started_at, keys_destroyed_at,
            finished_at, rows_erased, keys_destroyed, failure
    }

    func encode(to encoder: any Encoder) throws {
        let r = request
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(r.id, forKey: .id)
        try c.encode(r.accountID, forKey: .account_id)
        try c.encode(r.status.rawValue, forKey: .status)
        try c.encode(r.scope.json, forKey: .scope)
        try c.encode(r.ticket, forKey: .ticket)
        try c.encode(r.requestedBy, forKey: .requested_by)
        try c.encode(r.filedBy, forKey: .filed_by)
        try c.encode(r.createdAt.rfc3339, forKey: .created_at)
        try c.encode(r.runBy, forKey: .run_by)
        try c.encode(r.startedAt?.rfc3339, forKey: .started_at)
        try c.encode(r.keysDestroyedAt?.rfc3339, forKey: .keys_destroyed_at)
        try c.encode(r.finishedAt?.rfc3339, forKey: .finished_at)
        try c.encode(r.rowsErased, forKey: .rows_erased)
        try c.encode(r.keysDestroyed, forKey: .keys_destroyed)
        try c.encode(r.failure, forKey: .failure)
    }
}
