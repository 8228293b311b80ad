/// Accounts and memberships, as the platform API and `iolog accounts`/`iolog members` change
/// them. Every change that grants or removes access is an audit event in the trail of the
/// account it affects, in the same transaction, so an account's admins see who became admin
/// and who did it, the CLI included.
public struct AccountDirectory: Sendable {
    private let store: any LogStore
    private let clock: Clock

    public init(store: any LogStore, clock: Clock = .system) {
        self.store = store
        self.clock = clock
    }

    private var now: Timestamp { Timestamp(micros: clock.nowMicros()) }

    /// Creates or updates an account; audited as `account.upsert` when it is new or changed.
    public func upsertAccount(id: String, kind: AccountKind, name: String?, actor: String) async throws -> Account {
        var detail: [String: JSONValue] = ["kind": .string(kind.rawValue)]
        detail["name"] = name.map(JSONValue.string)
        let time = now
        return try await store.upsertAccount(
            id: id,
            kind: kind,
            name: name,
            at: time,
            audit: AuditEvent(
                occurredAt: time,
                actor: actor,
                action: "account.upsert",
                accountID: id,
                detail: JSONValue.object(detail).canonicalText
            )
        )
    }

    /// Gives a user a role; audited as `membership.set` (target: the user) when it changed.
    public func setRole(accountID: String, userID: String, role: Role, actor: String) async throws {
        let time = now
        try await store.setMembership(
            accountID: accountID,
            userID: userID,
            role: role,
            at: time,
            audit: AuditEvent(
                occurredAt: time,
                actor: actor,
                action: "membership.set",
                accountID: accountID,
                target: userID,
                detail: JSONValue.object(["role": .string(role.rawValue)]).canonicalText
            )
        )
    }

    /// Removes a membership; audited as `membership.remove`. False if there was none.
    public func removeMember(accountID: String, userID: String, actor: String) async throws -> Bool {
        try await store.removeMembership(
            accountID: accountID,
            userID: userID,
            audit: AuditEvent(occurredAt: now, actor: actor, action: "membership.remove", accountID: accountID, target: userID)
        )
    }

    /// The event a store appends, for each unrevoked token of a user made admin of an account
    /// (`LogStore.setMembership`): the token can read the account from now on.
    public static func tokenAccess(token: String, userID: String, accountID: String, cause: AuditEvent) -> AuditEvent {
        AuditEvent(
            occurredAt: cause.occurredAt,
            actor: cause.actor,
            action: "token.access",
            accountID: accountID,
            target: token,
            detail: JSONValue.object(["user_id": .string(userID)]).canonicalText
        )
    }
}
