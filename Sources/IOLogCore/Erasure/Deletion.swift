import Foundation

/// What a deletion request erases.
public enum DeletionScope: Sendable, Equatable {
    /// Every generation of the account, and its data keys (crypto-shredding).
    case account
    /// These generations of the account (ids of other accounts are ignored).
    case generations([String])
    /// Every generation of the account created before this moment.
    case before(Timestamp)
    /// Every generation of one end user of the account (its `user_id`).
    case user(String)

    public var name: String {
        switch self {
        case .account: "account"
        case .generations: "generations"
        case .before: "before"
        case .user: "user"
        }
    }

    /// The account's erasure boundary once this scope has run: whatever was created before it
    /// is never stored again. A whole-account request covers everything created at or before
    /// the moment it was recorded; `--before T` everything before T, but never past the moment
    /// of the request (a future T would silently refuse every later generation); a list of ids
    /// sets none (the ids themselves are remembered), nor does a user (the engine records that
    /// user's own boundary, `erased_users`, the same moment as a whole-account request).
    public func erasedBefore(requestedAt: Timestamp) -> Timestamp? {
        let requestBoundary = Timestamp(micros: requestedAt.micros + 1)
        switch self {
        case .account: return requestBoundary
        case .before(let time): return min(time, requestBoundary)
        case .generations, .user: return nil
        }
    }

    /// For receipts and audit events: ids and times, never content.
    public var json: JSONValue {
        switch self {
        case .account: .object(["kind": .string("account")])
        case .generations(let ids): .object(["kind": .string("generations"), "generation_ids": .array(ids.map(JSONValue.string))])
        case .before(let time): .object(["kind": .string("before"), "before": .string(time.rfc3339)])
        case .user(let userID): .object(["kind": .string("user"), "user_id": .string(userID)])
        }
    }
}

public enum DeletionStatus: String, Sendable, CaseIterable {
    case pending, running, completed, failed
}

/// An owner's deletion request and, once run, its receipt.
public struct DeletionRequest: Sendable, Equatable {
    public let id: String
    public let accountID: String
    /// The admin user who asked.
    public let requestedBy: String
    /// Who recorded the request (`cli:<user>` or the admin's token).
    public let filedBy: String
    public let ticket: String
    public let scope: DeletionScope
    public var status: DeletionStatus
    public let createdAt: Timestamp
    public var runBy: String?
    public var startedAt: Timestamp?
    public var keysDestroyedAt: Timestamp?
    public var finishedAt: Timestamp?
    public var rowsErased: Int
    public var keysDestroyed: Int
    public var failure: String?

    public init(
        id: String,
        accountID: String,
        requestedBy: String,
        filedBy: String,
        ticket: String,
        scope: DeletionScope,
        status: DeletionStatus = .pending,
        createdAt: Timestamp,
        runBy: String? = nil,
        startedAt: Timestamp? = nil,
        keysDestroyedAt: Timestamp? = nil,
        finishedAt: Timestamp? = nil,
        rowsErased: Int = 0,
        keysDestroyed: Int = 0,
        failure: String? = nil
    ) {
        self.id = id
        self.accountID = accountID
        self.requestedBy = requestedBy
        self.filedBy = filedBy
        self.ticket = ticket
        self.scope = scope
        self.status = status
        self.createdAt = createdAt
        self.runBy = runBy
        self.startedAt = startedAt
        self.keysDestroyedAt = keysDestroyedAt
        self.finishedAt = finishedAt
        self.rowsErased = rowsErased
        self.keysDestroyed = keysDestroyed
        self.failure = failure
    }
}

/// Records and carries out owners' deletion requests (DESIGN §2 rule 6, §6).
///
/// A run is resumable: every batch of deleted rows advances the receipt's counter in the same
/// transaction, and the key phase records its count before it destroys, so killing the process
/// at any point and running again finishes with an exact receipt. Deletion ignores the
/// retention minimum: an owner's request always wins.
public struct DeletionService: Sendable {
    /// Rows per transaction; small, so other accounts' ingest commits interleave.
    public static let batchSize = 1_000
    /// The pause between batches that lets other writers in.
    public static let pauseBetweenBatches: Duration = .milliseconds(3)
    /// The most generation ids one request may list.
    public static let maximumGenerationIDs = 10_000

    private let store: any LogStore
    private let keys: any KeyStore
    private let clock: Clock

    /// Needs no master key: destroying a wrapped key needs no unwrapping, so support staff
    /// running `iolog deletion run` need not hold it.
    public init(store: any LogStore, keys: any KeyStore, clock: Clock) {
        self.store = store
        self.keys = keys
        self.clock = clock
    }

    private var now: Timestamp { Timestamp(micros: clock.nowMicros()) }

    /// Carries out a request (pending, failed or interrupted while running); a completed one is
    /// returned as it is. `progress` is called after each batch with the receipt so far.
    public func run(
        id: String,
        runBy: String,
        progress: @Sendable (DeletionRequest) -> Void = { _ in }
    ) async throws
        -> DeletionRequest
    {
        guard let existing = try await store.deletionRequest(id: id) else { throw IOLogError.notFound("no deletion request \(id)") }
        if existing.status == .completed { return existing }
        var request = try await store.startDeletion(
            id: id,
            runBy: runBy,
            at: now,
            erasedBefore: existing.scope.erasedBefore(requestedAt: existing.createdAt),
            audit: AuditEvent(occurredAt: now, actor: runBy, action: "deletion.run", accountID: existing.accountID, target: id)
        )
        do {
            if request.scope == .account && request.keysDestroyedAt == nil {
                // Keys first: from this moment the account's data is unreadable everywhere,
                // backups of the log database included, even before its rows are gone.
                let count = try await keys.keyCount(accountID: request.accountID)
                if count > 0 { try await store.recordKeysToDestroy(id: id, count: count) }
                _ = try await keys.destroyKeys(accountID: request.accountID, at: now)
                request = try await store.markKeysDestroyed(id: id, at: now)
                progress(request)
            }
            while true {
                let erased = try await store.eraseBatch(request: request, limit: Self.batchSize)
                request.rowsErased += erased
                if erased > 0 { progress(request) }
                if erased < Self.batchSize { break }
                // A short pause leaves the write lock to ingest between batches (the run may be
                // another process, waiting on the same database file).
                try await Task.sleep(for: Self.pauseBetweenBatches)
            }
            // No residue of the erased rows in the engine's files (the keys' own residue was
            // scrubbed as they were destroyed).
            try await store.scrubErasedResidue()
            let finished = now
            return try await store.finishDeletion(
                id: id,
                status: .completed,
                failure: nil,
                at: finished,
                audit: AuditEvent(
                    occurredAt: finished,
                    actor: runBy,
                    action: "deletion.complete",
                    accountID: request.accountID,
                    target: id,
                    detail: JSONValue.object([
                        "rows_erased": .integer(Int64(request.rowsErased)), "keys_destroyed": .integer(Int64(request.keysDestroyed)),
                    ]).canonicalText
                )
            )
        } catch {
            let message = (error as? IOLogError)?.message ?? String(describing: type(of: error))
            _ = try? await store.finishDeletion(
                id: id,
                status: .failed,
                failure: message,
                at: now,
                audit: AuditEvent(occurredAt: now, actor: runBy, action: "deletion.fail", accountID: request.accountID, target: id)
            )
            throw error
        }
    }
}

/// Records owners' deletion requests (from `iolog deletion request` or an admin through the
/// API); `DeletionService` carries them out.
public struct DeletionDesk: Sendable {
    private let store: any LogStore
    private let clock: Clock

    public init(store: any LogStore, clock: Clock) {
        self.store = store
        self.clock = clock
    }

    /// Records a request. The requester must be an admin of the account (else `refused`).
    public func request(
        accountID: String,
        requestedBy: String,
        ticket: String,
        scope: DeletionScope,
        filedBy: String
    ) async throws
        -> DeletionRequest
    {
        _ = try Identifier.validated(accountID, as: "account")
        _ = try Identifier.validated(requestedBy, as: "requested-by user")
        let ticket = ticket.trimmingCharacters(in: .whitespaces)
        guard !ticket.isEmpty, ticket.utf8.count <= 200, !ticket.contains(where: \.isNewline) else {
            throw IOLogError.invalidInput("the ticket reference must be one line of 1–200 bytes")
        }
        if case .generations(let ids) = scope {
            guard !ids.isEmpty, ids.count <= DeletionService.maximumGenerationIDs else {
                throw IOLogError.invalidInput("list 1–\(DeletionService.maximumGenerationIDs) generation ids")
            }
            for id in ids { _ = try Identifier.validated(id, as: "generation id") }
        }
        if case .user(let userID) = scope { _ = try Identifier.validated(userID, as: "user id") }
        guard try await store.account(id: accountID) != nil else { throw IOLogError.notFound("no account \(accountID)") }
        guard try await store.role(accountID: accountID, userID: requestedBy) == .admin else {
            throw IOLogError.refused("\(requestedBy) is not an admin of \(accountID); only an account's admins may ask for its data to be deleted")
        }
        let created = Timestamp(micros: clock.nowMicros())
        let request = DeletionRequest(
            id: "del-" + hex(try SecureRandom.bytes(count: 8)),
            accountID: accountID,
            requestedBy: requestedBy,
            filedBy: filedBy,
            ticket: ticket,
            scope: scope,
            createdAt: created
        )
        let audit = AuditEvent(
            occurredAt: created,
            actor: filedBy,
            action: "deletion.request",
            accountID: accountID,
            target: request.id,
            detail: JSONValue.object(["requested_by": .string(requestedBy), "ticket": .string(ticket), "scope": scope.json]).canonicalText
        )
        try await store.insertDeletionRequest(request, audit: audit)
        return request
    }
}

extension DeletionScope {
    /// How both engines store a scope: the JSON array of ids, the `before` time, or the user.
    var columns: (generationIDs: String?, before: Int64?, userID: String?) {
        switch self {
        case .account: (nil, nil, nil)
        case .generations(let list): (JSONValue.array(list.map(JSONValue.string)).canonicalText, nil, nil)
        case .before(let time): (nil, time.micros, nil)
        case .user(let userID): (nil, nil, userID)
        }
    }
}

extension DeletionRequest {
    /// A request from the engines' shared column order (`id, account_id, requested_by,
    /// filed_by, ticket, scope, scope_generation_ids, scope_before, status, created_at, run_by,
    /// started_at, keys_destroyed_at, finished_at, rows_erased, keys_destroyed, failure,
    /// scope_user_id`).
    static func fromColumns(text: (Int) -> String?, integer: (Int) -> Int64?) -> DeletionRequest {
        let scope: DeletionScope
        switch text(5) {
        case "generations":
            let ids = (try? JSONValue.parse(Array((text(6) ?? "[]").utf8))).flatMap { value -> [String]? in
                guard case .array(let items) = value else { return nil }
                return items.compactMap { if case .string(let id) = $0 { id } else { nil } }
            }
            scope = .generations(ids ?? [])
        case "before": scope = .before(Timestamp(micros: integer(7) ?? 0))
        case "user": scope = .user(text(17) ?? "")
        default: scope = .account
        }
        return DeletionRequest(
            id: text(0) ?? "",
            accountID: text(1) ?? "",
            requestedBy: text(2) ?? "",
            filedBy: text(3) ?? "",
            ticket: text(4) ?? "",
            scope: scope,
            status: DeletionStatus(rawValue: text(8) ?? "") ?? .failed,
            createdAt: Timestamp(micros: integer(9) ?? 0),
            runBy: text(10),
            startedAt: integer(11).map(Timestamp.init(micros:)),
            keysDestroyedAt: integer(12).map(Timestamp.init(micros:)),
            finishedAt: integer(13).map(Timestamp.init(micros:)),
            rowsErased: Int(integer(14) ?? 0),
            keysDestroyed: Int(integer(15) ?? 0),
            failure: text(16)
        )
    }
}
