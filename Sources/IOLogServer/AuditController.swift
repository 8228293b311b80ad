import Hummingbird
import IOLogCore

/// `GET /v1/accounts/{account}/audit-events`: the account's audit trail, newest first, paged.
struct AuditController {
    let services: AppServices

    func register(on group: RouterGroup<IOLogRequestContext>) {
        group.get("audit-events", use: list)
    }

    struct EventJSON: Encodable {
        let seq: Int64
        let occurred_at: String
        let actor: String
        let action: String
        let account_id: String?
        let target: String?
        let detail: JSONValue?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(seq, forKey: .seq)
            try container.encode(occurred_at, forKey: .occurred_at)
            try container.encode(actor, forKey: .actor)
            try container.encode(action, forKey: .action)
            try container.encode(account_id, forKey: .account_id)
            try container.encode(target, forKey: .target)
            try container.encode(detail, forKey: .detail)
        }
        enum CodingKeys: String, CodingKey { case seq, occurred_at, actor, action, account_id, target, detail }
    }

    @Sendable func list(_ request: Request, context: IOLogRequestContext) async throws -> Response {
        let accountID = try context.parameters.require("account")
        let limit = try QueryParameters.limit(request, default: 50)
        var before: Int64?
        if let text = QueryParameters.value(request, "cursor") {
            guard let sequence = Int64(text), sequence > 0 else {
                throw APIError.invalid(FieldError(field: "cursor", message: "cursor is not one this service issued"))
            }
            before = sequence
        }
        let page = try await services.read.auditTrail(accountID: accountID, before: before, limit: limit)
        let events = page.items.map { row in
            EventJSON(
                seq: row.sequence,
                occurred_at: row.event.occurredAt.rfc3339,
                actor: row.event.actor,
                action: row.event.action,
                account_id: row.event.accountID,
                target: row.event.target,
                detail: row.event.detail.flatMap { try? JSONValue.parse(Array($0.utf8)) }
            )
        }
        struct Answer: Encodable {
            let data: [EventJSON]
            let next_cursor: String?

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(data, forKey: .data)
                try container.encode(next_cursor, forKey: .next_cursor)
            }
            enum CodingKeys: String, CodingKey { case data, next_cursor }
        }
        return try JSONBody.response(Answer(data: events, next_cursor: page.next.map(String.init)))
    }
}
