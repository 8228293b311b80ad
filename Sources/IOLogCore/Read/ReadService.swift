/// What account admins read: the list, one generation with its bodies, exports, the audit trail.
///
/// Every read of content is audited before the content is returned; if the audit row cannot
/// be written, the content is not shown.
public struct ReadService: Sendable {
    /// The largest page of the list and of the audit trail.
    public static let maximumPageSize = 200
    /// Rows fetched per round trip while exporting.
    static let exportPageSize = 200

    private let store: any LogStore
    private let envelope: BodyEnvelope
    private let clock: Clock

    public init(store: any LogStore, envelope: BodyEnvelope, clock: Clock) {
        self.store = store
        self.envelope = envelope
        self.clock = clock
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
    /// Audited as `generation.read` by `actor`.
    public func detail(accountID: String, id: String, actor: String) async throws -> GenerationDetail? {
        guard let sealed = try await store.generation(accountID: accountID, id: id) else { return nil }
        try await store.appendAudit(
            AuditEvent(occurredAt: now, actor: actor, action: "generation.read", accountID: accountID, target: id)
        )
        return try await open(sealed)
    }

    /// Opens every body of a stored generation. Throws an error naming the generation (never
    /// returns an empty body) when a body does not decrypt.
    public func open(_ sealed: SealedGeneration) async throws -> GenerationDetail {
        func body(_ bytes: [UInt8], _ field: BodyField) async throws -> JSONValue {
            let plaintext = try await envelope.open(bytes, accountID: sealed.accountID, generationID: sealed.id, field: field)
            do {
                return try JSONValue.parse(plaintext)
            } catch {
                throw IOLogError.corrupted("the \(field.rawValue) of generation \(sealed.id) is not valid JSON after decryption")
            }
        }
        var reasoning: JSONValue?
        if let sealedReasoning = sealed.reasoningSealed { reasoning = try await body(sealedReasoning, .reasoning) }
        return GenerationDetail(
            summary: GenerationSummary(sealed),
            prompt: try await body(sealed.promptSealed, .prompt),
            completion: try await body(sealed.completionSealed, .completion),
            reasoning: reasoning
        )
    }

    /// Streams every matching generation with its bodies, newest first, page by page so memory
    /// stays flat; `emit` is called once per generation. Audited as `generation.export` with the
    /// filter and the number of rows sent, also when the export stops early.
    public func export(
        accountID: String,
        filter: GenerationFilter,
        actor: String,
        emit: (GenerationDetail) async throws -> Void
    ) async throws {
        var sent = 0
        var complete = false
        do {
            var cursor: ListCursor?
            while true {
                let page = try await store.sealedGenerations(
                    accountID: accountID,
                    filter: filter,
                    after: cursor,
                    limit: Self.exportPageSize
                )
                for sealed in page {
                    try await emit(try await open(sealed))
                    sent += 1
                }
                guard page.count == Self.exportPageSize, let last = page.last else { break }
                cursor = GenerationSummary(last).cursor
            }
            complete = true
        } catch {
            try? await recordExport(accountID: accountID, filter: filter, actor: actor, rows: sent, complete: false)
            throw error
        }
        try await recordExport(accountID: accountID, filter: filter, actor: actor, rows: sent, complete: complete)
    }

    private func recordExport(
        accountID: String,
        filter: GenerationFilter,
        actor: String,
        rows: Int,
        complete: Bool
    )
        async throws
    {
        let detail: JSONValue = .object([
            "filter": (try? JSONValue.parse(Array(filter.auditDescription.utf8))) ?? .null,
            "rows": .integer(Int64(rows)), "complete": .bool(complete),
        ])
        try await store.appendAudit(
            AuditEvent(
                occurredAt: now,
                actor: actor,
                action: "generation.export",
                accountID: accountID,
                detail: detail.canonicalText
            )
        )
    }

    /// Records a refused attempt to read an account's data.
    public func recordDenied(accountID: String, actor: String, target: String) async throws {
        try await store.appendAudit(
            AuditEvent(occurredAt: now, actor: actor, action: "access.denied", accountID: accountID, target: target)
        )
    }

    /// A page of the account's audit trail, newest first, and the cursor of the next page.
    public func auditTrail(
        accountID: String,
        before: Int64?,
        limit: Int
    ) async throws
        -> (items: [StoredAuditEvent], next: Int64?)
    {
        let rows = try await store.auditEvents(accountID: accountID, before: before, limit: limit + 1)
        let page = Array(rows.prefix(limit))
        return (page, rows.count > limit ? page.last?.sequence : nil)
    }

    private var now: Timestamp { Timestamp(micros: clock.nowMicros()) }
}
