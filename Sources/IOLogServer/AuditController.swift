import Hummingbird
import IOLogCore

/// `GET /v1/accounts/{account}/audit-events`: the account's audit trail, newest first, paged.
struct AuditController {
    let services: AppServices

    func register(on group: RouterGroup<IOLogRequestContext>) {
        group.get("audit-events", use: list)
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
        let events = page.items.map { row -> JSONValue in
            let event = row.event
            return .object([
                "seq": .integer(row.sequence), "occurred_at": .string(event.occurredAt.rfc3339), "actor": .string(event.actor),
                "action": .string(event.action), "account_id": event.accountID.map(JSONValue.string) ?? .null,
                "target": event.target.map(JSONValue.string) ?? .null,
                "detail": event.detail.flatMap { try? JSONParser.parse(Array($0.utf8), limits: .stored) } ?? .null,
            ])
        }
        return JSONBody.response(.object(["data": .array(events), "next_cursor": page.next.map { .string(String($0)) } ?? .null]))
    }
}
