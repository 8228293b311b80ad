import Hummingbird
import IOLogCore

/// `/v1/accounts/{account}/ingest-tokens`: an account's admins make, list and revoke the
/// account's ingest tokens (DESIGN §4.5), which may post generations and traces for that account
/// only. A new token's secret is in the creation answer alone; every change is in the account's
/// trail.
struct IngestTokensController {
    let services: AppServices

    func register(on group: RouterGroup<IOLogRequestContext>) {
        group.get("ingest-tokens", use: list)
        group.post("ingest-tokens", use: create)
        group.delete("ingest-tokens/:token", use: revoke)
    }

    /// Body (optional): `{"label": string}`, a note for the admins.
    @Sendable func create(_ request: Request, context: IOLogRequestContext) async throws -> Response {
        let accountID = try context.parameters.require("account")
        var label: String?
        let hasBody = request.headers[.transferEncoding] != nil || (request.headers[.contentLength].flatMap { Int($0) } ?? 0) > 0
        if hasBody {
            let body = try await JSONBody.read(request, limit: PlatformController.bodyLimit)
            guard case .object(let fields) = body else {
                throw APIError.invalid(FieldError(field: nil, message: "the body must be a JSON object"))
            }
            for key in fields.keys where key != "label" {
                throw APIError.invalid(FieldError(field: key, message: "\(key) is not a field of an ingest token"))
            }
            switch body["label"] {
            case nil, .null?: break
            case .string(let text)?: label = text
            default: throw APIError.invalid(FieldError(field: "label", message: "label must be a string"))
            }
        }
        let issued: IssuedToken
        do {
            issued = try await services.tokens.create(kind: .ingest, accountID: accountID, label: label, actor: context.actor)
        } catch let error as IOLogError where error.code == .invalidInput {
            throw APIError.invalid(FieldError(field: "label", message: error.message))
        }
        var answer = Self.json(issued.record)
        answer["token"] = .string(issued.token)
        return JSONBody.response(.object(answer), status: .created)
    }

    @Sendable func list(_ request: Request, context: IOLogRequestContext) async throws -> Response {
        let accountID = try context.parameters.require("account")
        let tokens = try await services.tokens.ingestTokens(accountID: accountID)
        return JSONBody.response(.object(["data": .array(tokens.map { .object(Self.json($0)) })]))
    }

    @Sendable func revoke(_ request: Request, context: IOLogRequestContext) async throws -> Response {
        let accountID = try context.parameters.require("account")
        let tokenID = try context.parameters.require("token")
        do {
            try await services.tokens.revokeIngestToken(id: tokenID, accountID: accountID, actor: context.actor)
        } catch let error as IOLogError where error.code == .notFound {
            throw APIError(status: .notFound, code: "not_found", message: error.message)
        }
        guard let revoked = try await services.tokens.ingestTokens(accountID: accountID).first(where: { $0.id == tokenID }) else {
            throw APIError(status: .notFound, code: "not_found", message: "no ingest token \(tokenID)")
        }
        return JSONBody.response(.object(Self.json(revoked)))
    }

    /// A token's facts, never its secret; absent values are `null`.
    static func json(_ token: TokenRecord) -> [String: JSONValue] {
        [
            "id": .string(token.id),
            "account_id": token.accountID.map(JSONValue.string) ?? .null,
            "label": token.label.map(JSONValue.string) ?? .null,
            "created_at": .string(token.createdAt.rfc3339),
            "created_by": token.createdBy.map(JSONValue.string) ?? .null,
            "revoked_at": token.revokedAt.map { .string($0.rfc3339) } ?? .null,
        ]
    }
}
