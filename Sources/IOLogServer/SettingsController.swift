import Hummingbird
import IOLogCore

/// An account's I/O logging setting (DESIGN §4.2), for its admins only.
struct SettingsController {
    let services: AppServices

    struct SettingsAnswer: Encodable {
        let io_logging: IOLoggingAnswer
    }

    func register(on group: RouterGroup<IOLogRequestContext>) {
        group.get("settings", use: show)
        group.put("settings/io-logging", use: toggle)
    }

    @Sendable func show(_ request: Request, context: IOLogRequestContext) async throws -> Response {
        let accountID = try context.parameters.require("account")
        guard let account = try await services.store.account(id: accountID) else { throw APIError.accountNotFound }
        return try JSONBody.response(SettingsAnswer(io_logging: IOLoggingAnswer(account.ioLogging)))
    }

    /// Enabling records the moment (only generations created from then on are stored);
    /// disabling stops new storage and keeps what is stored. Audited either way.
    @Sendable func toggle(_ request: Request, context: IOLogRequestContext) async throws -> Response {
        let accountID = try context.parameters.require("account")
        let body = try await JSONBody.read(request, limit: PlatformController.bodyLimit)
        guard case .bool(let enabled)? = body["enabled"] else {
            throw APIError.invalid(FieldError(field: "enabled", message: "enabled must be true or false"))
        }
        let setting = try await services.setIOLogging(accountID: accountID, enabled: enabled, actor: context.actor)
        return try JSONBody.response(SettingsAnswer(io_logging: IOLoggingAnswer(setting)))
    }
}

extension AppServices {
    /// Turns I/O logging on or off for the API and the settings page alike, audited as
    /// `io_logging.enable` / `io_logging.disable` in the same transaction.
    func setIOLogging(accountID: String, enabled: Bool, actor: String) async throws -> IOLoggingSetting {
        let now = Timestamp(micros: clock.nowMicros())
        let audit = AuditEvent(
            occurredAt: now,
            actor: actor,
            action: enabled ? "io_logging.enable" : "io_logging.disable",
            accountID: accountID
        )
        return try await store.setIOLogging(accountID: accountID, enabled: enabled, at: now, audit: audit)
    }
}
