/// What account admins read: the list, one generation with its bodies, exports, the audit trail.
///
/// Every read of content is audited before the content is returned; if the audit row cannot
/// be written, the content is not shown.
public struct ReadService: Sendable {
    /// The largest page of the list and of the audit trail.
    public static let maximumPageSize = 200
    /// Rows fetched per round trip while exporting.
    static let exportPageSize = 200

    fileprivate let store: any LogStore
    private let envelope: BodyEnvelope
    private let clock: Clock
    private let denials = DenialLog()
    /// Content reads are audited durably before the content is sent; concurrent reads share
    /// the audit commits (one fsync for every read waiting, as ingest shares its commits).
    private let audit: GroupCommit<AuditEvent, Void>

    public init(store: any LogStore, envelope: BodyEnvelope, clock: Clock) {
        self.store = store
        self.envelope = envelope
        self.clock = clock
        audit = GroupCommit(capacity: 10_000, maximumItemsPerCommit: 500) { events in
            try await store.appendAudit(events)
            return events.map { _ in () }
        }
    }

    /// One page, newest first, and the cursor of the next page (nil on the last page).
    public func list(
        accountID: String,
        filter: GenerationFilter,
        after cursor: ListCursor?,
        limit: Int
    ) async throws
        -> (items: [GenerationSummary], next: ListCursor?)
    {
        // One extra row tells whether another page exists without a count query.
        let rows = try await store.generationSummaries(accountID: accountID, filter: filter, after: cursor, limit: limit + 1)
        let page = Array(rows.prefix(limit))
        return (page, rows.count > limit ? page.last?.cursor : nil)
    }

    /// The page just newer than `cursor`, newest first, and whether still newer rows exist
    /// (for the "newer" link of the Logs page; the JSON API pages forward only).
    public func listNewer(
        accountID: String,
        filter: GenerationFilter,
        than cursor: ListCursor,
        limit: Int
    ) async throws
        -> (items: [GenerationSummary], hasNewer: Bool)
    {
        let rows = try await store.generationSummaries(accountID: accountID, filter: filter, newerThan: cursor, limit: limit + 1)
        return (Array(rows.suffix(limit)), rows.count > limit)
    }

    /// The generation with its bodies opened, or nil if the account has no such generation.
    /// Audited as `generation.read` by `actor`, with the id of the token that read it, so a read
    /// through a token minted on the server is told apart from the admin's own.
    public func detail(accountID: String, id: String, actor: String, tokenID: String?) async throws -> GenerationDetail? {
        guard let sealed = try await store.generation(accountID: accountID, id: id) else { return nil }
        _ = try await audit.submit([
            AuditEvent(
                occurredAt: now,
                actor: actor,
                action: "generation.read",
                accountID: accountID,
                target: id,
                detail: Self.tokenDetail(tokenID)
            )
        ])
        return try await open(sealed)
    }

    /// `{"token_id": …}` for the audit detail of a content read.
    static func tokenDetail(_ tokenID: String?, _ more: [String: JSONValue] = [:]) -> String {
        var members = more
        members["token_id"] = tokenID.map(JSONValue.string)
        return JSONValue.object(members).canonicalText
    }

    /// Opens every body of a stored generation. Throws an error naming the generation (never
    /// returns an empty body) when a body does not decrypt.
    public func open(_ sealed: SealedGeneration) async throws -> GenerationDetail {
        // The bodies of one generation share a key version: one keyring read for all of them.
        var keys: [UInt32: SymmetricKey] = [:]
        return try await open(sealed, keys: &keys)
    }

    /// `open`, with the data keys read so far (`keys`): an export reads each key version of
    /// the account once, not once per row.
    func open(_ sealed: SealedGeneration, keys: inout [UInt32: SymmetricKey]) async throws -> GenerationDetail {
        func body(_ bytes: [UInt8], _ field: BodyField) async throws -> OpenedBody {
            let text = try await envelope.open(bytes, accountID: sealed.accountID, generationID: sealed.id, field: field, keys: &keys)
            return OpenedBody(text: text, generationID: sealed.id, field: field)
        }
        var reasoning: OpenedBody?
        if let sealedReasoning = sealed.reasoningSealed { reasoning = try await body(sealedReasoning, .reasoning) }
        let prompt = try await body(sealed.promptSealed, .prompt)
        let completion = try await body(sealed.completionSealed, .completion)
        return GenerationDetail(summary: GenerationSummary(sealed), prompt: prompt, completion: completion, reasoning: reasoning)
    }

    /// Starts an export of every matching generation: audited as `generation.export` now, before
    /// anything is sent, so an export can never leave the server unrecorded.
    public func startExport(accountID: String, filter: GenerationFilter, actor: String, tokenID: String?) async throws -> Export {
        let export = Export(service: self, accountID: accountID, filter: filter, actor: actor, tokenID: tokenID)
        try await export.record(action: "generation.export", rows: nil, complete: nil)
        return export
    }

    /// An export under way (`startExport`).
    public struct Export: Sendable {
        fileprivate let service: ReadService
        fileprivate let accountID: String
        fileprivate let filter: GenerationFilter
        fileprivate let actor: String
        fileprivate let tokenID: String?

        /// Streams the generations with their bodies, newest first, page by page so memory stays
        /// flat; `emit` is called once per generation. The end is audited as
        /// `generation.export.end` with the rows sent and whether the export completed, also
        /// when it fails (then the error is rethrown).
        public func run(emit: (GenerationDetail) async throws -> Void) async throws {
            var sent = 0
            // Each key version is read from the keyring once for the whole export: per row, the
            // reads queued behind ingest's commits made a busy server's export crawl.
            var keys: [UInt32: SymmetricKey] = [:]
            do {
                var cursor: ListCursor?
                while true {
                    let page = try await service.store.sealedGenerations(
                        accountID: accountID,
                        filter: filter,
                        after: cursor,
                        limit: ReadService.exportPageSize
                    )
                    for sealed in page {
                        try await emit(try await service.open(sealed, keys: &keys))
                        sent += 1
                    }
                    guard page.count == ReadService.exportPageSize, let last = page.last else { break }
                    cursor = GenerationSummary(last).cursor
                }
            } catch {
                try? await record(action: "generation.export.end", rows: sent, complete: false)
                throw error
            }
            try await record(action: "generation.export.end", rows: sent, complete: true)
        }

        fileprivate func record(action: String, rows: Int?, complete: Bool?) async throws {
            var detail: [String: JSONValue] = [
                "filter": (try? JSONValue.parse(Array(filter.auditDescription.utf8))) ?? .null
            ]
            detail["rows"] = rows.map { .integer(Int64($0)) }
            detail["complete"] = complete.map(JSONValue.bool)
            try await service.store.appendAudit(
                AuditEvent(
                    occurredAt: service.now,
                    actor: actor,
                    action: action,
                    accountID: accountID,
                    detail: ReadService.tokenDetail(tokenID, detail)
                )
            )
        }
    }

    /// Records a refused attempt to read an account's data: `route` is the route pattern (e.g.
    /// `GET /v1/accounts/{account}/generations/{id}`), never the raw path. The same caller refused
    /// on the same account again within `DenialLog.window` is counted, not written; each row
    /// says how many refusals it stands for (`refusals`), and `flushDenials` writes the counts
    /// no later refusal did.
    public func recordDenied(accountID: String, actor: String, route: String, generationID: String?) async throws {
        let time = now
        guard let repeated = denials.admit(accountID: accountID, actor: actor, route: route, generationID: generationID, at: time)
        else { return }
        try await appendDenied(accountID: accountID, actor: actor, route: route, generationID: generationID, refusals: repeated + 1)
    }

    /// Writes the refusals that were counted but not written: those whose minute has passed, or
    /// all of them (at shutdown).
    public func flushDenials(all: Bool) async throws {
        for summary in denials.pending(at: now, all: all) {
            try await appendDenied(
                accountID: summary.accountID,
                actor: summary.actor,
                route: summary.route,
                generationID: summary.generationID,
                refusals: summary.count
            )
        }
    }

    /// One `access.denied` row standing for `refusals` refusals (the last one's route and id).
    private func appendDenied(accountID: String, actor: String, route: String, generationID: String?, refusals: Int) async throws {
        var detail: [String: JSONValue] = ["route": .string(route), "refusals": .integer(Int64(refusals))]
        detail["generation_id"] = generationID.map(JSONValue.string)
        try await store.appendAudit(
            AuditEvent(
                occurredAt: now,
                actor: actor,
                action: "access.denied",
                accountID: accountID,
                target: generationID,
                detail: JSONValue.object(detail).canonicalText
            )
        )
    }

    /// A page of the account's audit trail, newest first, and the cursor of the next page;
    /// only the events whose action is in `actions` when it is given.
    public func auditTrail(
        accountID: String,
        actions: [String]? = nil,
        before: Int64?,
        limit: Int
    ) async throws
        -> (items: [StoredAuditEvent], next: Int64?)
    {
        let rows = try await store.auditEvents(accountID: accountID, actions: actions, before: before, limit: limit + 1)
        let page = Array(rows.prefix(limit))
        return (page, rows.count > limit ? page.last?.sequence : nil)
    }

    /// The actions that grant access to an account's content or use it: who became admin,
    /// which tokens were made for its members and by whom, who read or exported content with
    /// which token. The Settings page shows them as the account's access history.
    public static let accessActions = [
        "account.upsert", "membership.set", "membership.remove", "token.create", "token.revoke", "token.access", "generation.read",
        "generation.export", "generation.export.end",
    ]

    fileprivate var now: Timestamp { Timestamp(micros: clock.nowMicros()) }
}
