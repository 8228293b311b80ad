/// What iolog needs from the log database of an engine (`StorageEngine`). SQLite and
/// PostgreSQL implement it; every SQL dialect detail stays inside its engine.
///
/// Invariants every engine keeps (checked by the conformance suite):
/// * **One audit append at a time.** Each event's hash covers the previous one; two appends
///   that read the same chain head would fork the chain. Every method that appends does so
///   inside its own transaction while holding the chain head (SQLite: the single writer;
///   PostgreSQL: a row lock on the chain head), so concurrent appends from any number of
///   processes form one chain.
/// * **Destroyed keys are visible inside the insert's transaction.** `insertGenerations`
///   checks the key version of every row against the keyring inside the transaction that
///   stores it, ordered against `KeyStore.destroyKeys`: after a destruction returns, no row
///   sealed with a destroyed key commits. The same holds for the erasure boundary and listed
///   ids set by `startDeletion`.
/// * **Erased residue is scrubbed.** After `scrubErasedResidue()` returns, deleted rows'
///   bytes are in no file the engine controls (SQLite: `secure_delete` and a truncated WAL;
///   PostgreSQL: `VACUUM` of the tables erased from, see docs/OPERATIONS.md for the WAL and
///   backups the server keeps).
/// * **Idempotency and conflicts are decided by the database's constraints**, never by
///   in-process state, so several processes may insert the same id at once.
public protocol LogStore: Sendable {
    /// Creates the account or updates its kind and name; the logging setting is kept. Appends
    /// `audit` in the same transaction when the account is new or changed.
    func upsertAccount(id: String, kind: AccountKind, name: String?, at time: Timestamp, audit: AuditEvent) async throws -> Account
    /// The account, or nil if it does not exist.
    func account(id: String) async throws -> Account?

    /// Gives `userID` a role in an existing account (throws `notFound` otherwise). Appends
    /// `audit` in the same transaction when the role changed and, when the role is admin, one
    /// `token.access` event (target: the token) per unrevoked token of the user, so a token
    /// made before the membership is in the account's trail too.
    func setMembership(accountID: String, userID: String, role: Role, at time: Timestamp, audit: AuditEvent) async throws
    /// Removes a membership, appending `audit` in the same transaction; false if there was none.
    func removeMembership(accountID: String, userID: String, audit: AuditEvent) async throws -> Bool
    /// The user's role in the account, or nil if not a member.
    func role(accountID: String, userID: String) async throws -> Role?

    /// Stores a new token with the SHA-256 of its secret and, in the same transaction, `audit`
    /// in the trail of every account the token's user belongs to (once without an account when
    /// the token has no user or the user no account): whoever can read an account through the
    /// token is visible to that account's admins.
    func insertToken(_ token: TokenRecord, secretSHA256: [UInt8], audit: AuditEvent) async throws
    /// The token and the SHA-256 of its secret, to be compared in constant time by the caller.
    func tokenCredential(id: String) async throws -> (token: TokenRecord, secretSHA256: [UInt8])?
    /// Every token, newest first.
    func tokens() async throws -> [TokenRecord]
    /// Marks a token revoked (appending `audit` as `insertToken` does, if it was); false if no
    /// unrevoked token has that id.
    func revokeToken(id: String, at time: Timestamp, audit: AuditEvent) async throws -> Bool

    /// Stores generations in one durable commit, judging each on its own: one created before
    /// its account's erasure boundary, or whose id an erasure listed, is `erased`; a new id is stored; an existing id with the
    /// same account and content MAC is a duplicate; any other existing id is a conflict.
    func insertGenerations(_ generations: [SealedGeneration]) async throws -> [InsertOutcome]
    /// The stored generation with this id, in any account.
    func generation(id: String) async throws -> SealedGeneration?
    /// The generation with this id if it belongs to `accountID`.
    func generation(accountID: String, id: String) async throws -> SealedGeneration?
    /// One page of an account's generations, newest first, strictly after `cursor`; metadata only.
    func generationSummaries(
        accountID: String,
        filter: GenerationFilter,
        after cursor: ListCursor?,
        limit: Int
    )
        async throws -> [GenerationSummary]
    /// The page just newer than `cursor` (for a "newer" link), still ordered newest first.
    func generationSummaries(
        accountID: String,
        filter: GenerationFilter,
        newerThan cursor: ListCursor,
        limit: Int
    )
        async throws -> [GenerationSummary]
    /// Like `generationSummaries` but with the sealed bodies, for export.
    func sealedGenerations(
        accountID: String,
        filter: GenerationFilter,
        after cursor: ListCursor?,
        limit: Int
    )
        async throws -> [SealedGeneration]

    /// An account's audit events, newest first, with sequence below `before`; only those whose
    /// action is in `actions` when it is given.
    func auditEvents(accountID: String, actions: [String]?, before: Int64?, limit: Int) async throws -> [StoredAuditEvent]
    /// Walks the whole audit chain.
    func verifyAuditChain() async throws -> AuditVerification

    /// Throws unless the database answers a trivial query.
    func checkHealth() async throws

    /// True when this process may run the periodic `job` (the retention purge): on SQLite
    /// always (one machine; the writer lock orders runs); on PostgreSQL the first replica to
    /// ask takes a session advisory lock and keeps it until it stops, so exactly one replica
    /// runs the job and another takes over when it is gone.
    func claimMaintenance(_ job: String) async throws -> Bool

    /// Turns Input & Output Logging on or off and appends `audit` in the same transaction.
    /// Turning it on (when off) records the moment; turning it off keeps stored data.
    /// Throws `notFound` for an unknown account.
    func setIOLogging(
        accountID: String,
        enabled: Bool,
        at time: Timestamp,
        audit: AuditEvent?
    ) async throws
        -> IOLoggingSetting

    /// The accounts a user belongs to, with the role, ordered by account id.
    func memberships(userID: String) async throws -> [(account: Account, role: Role)]

    /// Stores a browser session under the SHA-256 of its secret (and drops expired ones).
    func insertSession(_ session: SessionRecord, secretSHA256: [UInt8]) async throws
    /// The session with this secret digest if it has not expired and its token is not revoked.
    func session(secretSHA256: [UInt8], at time: Timestamp) async throws -> SessionRecord?
    /// Ends a session.
    func deleteSession(secretSHA256: [UInt8]) async throws

    // MARK: Retention

    /// The retention the deployment runs with, as `serve` last recorded it; nil if never recorded.
    func retentionPolicy() async throws -> RetentionPolicy?
    /// Records the retention `serve` runs with, appending `audit` in the same transaction when
    /// it changed; returns the one recorded before (nil if none).
    @discardableResult
    func setRetentionPolicy(_ policy: RetentionPolicy, at time: Timestamp, audit: AuditEvent) async throws -> RetentionPolicy?

    /// Per account, how many generations were created before `cutoff`.
    func purgeableCounts(before cutoff: Timestamp) async throws -> [String: Int]
    /// Deletes some of the oldest generations created before `cutoff` in one transaction
    /// (about `limit` rows, or a whole partition where the engine has them); returns the count
    /// per account, empty when none is left.
    func purgeBatch(before cutoff: Timestamp, limit: Int) async throws -> [String: Int]

    // MARK: Deletion requests

    /// Stores a new request with its `deletion.request` audit event.
    func insertDeletionRequest(_ request: DeletionRequest, audit: AuditEvent) async throws
    func deletionRequest(id: String) async throws -> DeletionRequest?
    /// Requests, newest first, optionally of one account and/or in one status.
    func deletionRequests(accountID: String?, status: DeletionStatus?) async throws -> [DeletionRequest]
    /// Marks a request running (keeping the first start time), moves the account's erasure
    /// boundary up to `erasedBefore` (never back), remembers the ids of a `generations` scope
    /// (so a retry of one is never stored again) and the boundary of a `user` scope's user
    /// (the moment the request was recorded: nothing of theirs from before is stored again),
    /// and appends `audit`, in one transaction.
    func startDeletion(
        id: String,
        runBy: String,
        at time: Timestamp,
        erasedBefore: Timestamp?,
        audit: AuditEvent
    ) async throws
        -> DeletionRequest
    /// Records how many data keys the run is about to destroy.
    func recordKeysToDestroy(id: String, count: Int) async throws
    /// Records that the account's keys are destroyed.
    func markKeysDestroyed(id: String, at time: Timestamp) async throws -> DeletionRequest
    /// Deletes up to `limit` generations in the request's scope and adds the count to its
    /// receipt, in one transaction; returns the count.
    func eraseBatch(request: DeletionRequest, limit: Int) async throws -> Int
    /// Ends a run as completed or failed and appends `audit`.
    func finishDeletion(
        id: String,
        status: DeletionStatus,
        failure: String?,
        at time: Timestamp,
        audit: AuditEvent
    ) async throws
        -> DeletionRequest
    /// Removes what the engine keeps of deleted rows after they are gone (see the invariants
    /// above); called at the end of every deletion run.
    func scrubErasedResidue() async throws

    /// Appends events, in order, to the hash-chained audit trail, all in one transaction.
    func appendAudit(_ events: [AuditEvent]) async throws
}

/// What happened to one generation handed to `insertGenerations`.
public enum InsertOutcome: Sendable, Equatable {
    case stored
    case duplicate
    case conflict
    /// Not stored: the data key the bodies were sealed with was destroyed meanwhile (an erasure
    /// of the account ran); seal again with the account's current key.
    case keyDestroyed
    /// Not stored: created before the account's erasure boundary (`Account.erasedBefore`) or
    /// listed by an erasure of generations, checked inside the insert's own transaction.
    case erased
}

extension LogStore {
    /// Appends one event to the hash-chained audit trail.
    public func appendAudit(_ event: AuditEvent) async throws {
        try await appendAudit([event])
    }

    /// Stores one sealed generation durably (`insertGenerations`); throws `conflict` if its id
    /// exists, `keyUnavailable` if its key was destroyed, `refused` if an erasure covers it.
    public func insertGeneration(_ generation: SealedGeneration) async throws {
        switch try await insertGenerations([generation]) {
        case [.stored]: return
        case [.erased]:
            throw IOLogError.refused("generation \(generation.id) was erased at the owner's request (created before the boundary, or listed)")
        case [.keyDestroyed]: throw IOLogError(.keyUnavailable, "generation \(generation.id) was sealed with a destroyed key")
        default: throw IOLogError(.conflict, "generation \(generation.id) is already stored")
        }
    }
}
