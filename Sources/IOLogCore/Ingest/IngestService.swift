/// The answer for one posted generation.
public enum IngestResult: Sendable, Equatable {
    case stored(id: String)
    case duplicate(id: String)
    case skipped(id: String, reason: SkipReason)
    /// The same id is stored with other content or under another account.
    case conflict(id: String)
    /// The item is malformed; `id` when it could be read.
    case invalid(id: String?, FieldError)
    /// The token may not ingest for the item's account (an ingest token, another account).
    case forbidden(id: String, allowedAccountID: String)
}

/// Judges, seals and stores generations posted by the gateway (DESIGN §2 rules 1–3, 7).
///
/// A generation's body is only ever touched to seal it, and only after the policy said it
/// may be stored; skipped and invalid generations leave nothing behind.
public struct IngestService: Sendable {
    private let store: any LogStore
    private let envelope: BodyEnvelope
    private let writer: GenerationWriter
    private let policy: IngestPolicy
    private let clock: Clock

    public init(store: any LogStore, envelope: BodyEnvelope, writer: GenerationWriter, policy: IngestPolicy, clock: Clock) {
        self.store = store
        self.envelope = envelope
        self.writer = writer
        self.policy = policy
        self.clock = clock
    }

    /// Judges and stores every item on its own; returns once all stored items are durable.
    /// Throws only for failures of the whole (storage down, queue full). With `onlyAccount` (an
    /// account ingest token's), items of any other account are `forbidden`, judged before the
    /// account is even looked up, so the answer says nothing about the other account.
    public func ingest(_ items: [JSONValue], onlyAccount: String? = nil) async throws -> [IngestResult] {
        let now = Timestamp(micros: clock.nowMicros())
        var results = [IngestResult?](repeating: nil, count: items.count)
        var accounts: [String: Account?] = [:]

        var storable: [(index: Int, input: GenerationInput)] = []
        for (index, item) in items.enumerated() {
            let input: GenerationInput
            do {
                input = try GenerationInput.parse(item, now: now)
            } catch {
                results[index] = .invalid(id: Self.readableID(item), error)
                continue
            }
            if let onlyAccount, input.accountID != onlyAccount {
                results[index] = .forbidden(id: input.id, allowedAccountID: onlyAccount)
                continue
            }
            if accounts[input.accountID] == nil {
                accounts[input.accountID] = .some(try await store.account(id: input.accountID))
            }
            let account = accounts[input.accountID] ?? nil
            if let reason = policy.skipReason(region: input.region, createdAt: input.createdAt, account: account) {
                results[index] = .skipped(id: input.id, reason: reason)
                continue
            }
            storable.append((index, input))
        }

        // Each generation's seals count against its account's key; the key is read once per
        // account and batch (the keyring leases seals in blocks).
        var rows = [SealedGeneration?](repeating: nil, count: storable.count)
        for (accountID, positions) in Dictionary(grouping: storable.indices, by: { storable[$0].input.accountID }) {
            let sealers = try await envelope.sealers(for: accountID, seals: positions.map { storable[$0].input.sealCount })
            for (position, sealer) in zip(positions, sealers) {
                rows[position] = try Self.seal(storable[position].input, with: sealer, storedAt: now)
            }
        }
        var pending = zip(storable, rows).map { item, row in (index: item.index, input: item.input, row: row!) }

        // A row sealed with a key that an erasure destroyed before the commit is sealed again
        // with the account's fresh key; an erasure cannot keep racing, so a few rounds suffice.
        for _ in 0..<Self.resealAttempts where !pending.isEmpty {
            let outcomes = try await writer.submit(pending.map(\.row))
            var again: [(index: Int, input: GenerationInput, row: SealedGeneration)] = []
            for (item, outcome) in zip(pending, outcomes) {
                switch outcome {
                case .stored: results[item.index] = .stored(id: item.row.id)
                case .duplicate: results[item.index] = .duplicate(id: item.row.id)
                case .conflict:
                    let same = try await storedBeforeKeyChange(item.input, sealedWith: item.row)
                    results[item.index] = same ? .duplicate(id: item.row.id) : .conflict(id: item.row.id)
                case .erased: results[item.index] = .skipped(id: item.row.id, reason: .beforeOptIn)
                case .keyDestroyed:
                    envelope.endLease(accountID: item.input.accountID, sealed: item.row.promptSealed)
                    let sealer = try await envelope.sealer(for: item.input.accountID, seals: item.input.sealCount)
                    again.append((item.index, item.input, try Self.seal(item.input, with: sealer, storedAt: now)))
                }
            }
            pending = again
        }
        guard pending.isEmpty else { throw GenerationWriter.Overloaded() }
        return results.map { $0! }
    }

    /// Whether the row stored under the id holds this same generation, sealed (and its content
    /// MAC computed) with an earlier data key of the account: a retry that spans a key rollover
    /// is a duplicate, not a conflict.
    private func storedBeforeKeyChange(_ input: GenerationInput, sealedWith row: SealedGeneration) async throws -> Bool {
        guard let stored = try await store.generation(accountID: input.accountID, id: input.id),
            let storedVersion = BodyEnvelope.keyVersion(of: stored.promptSealed),
            storedVersion != BodyEnvelope.keyVersion(of: row.promptSealed)
        else { return false }
        do {
            return try await envelope.contentMAC(
                stored.contentMAC,
                matches: input.canonicalContent,
                accountID: input.accountID,
                keyVersion: storedVersion
            )
        } catch let error as IOLogError where error.code == .keyUnavailable {
            return false
        }
    }

    /// Rounds of sealing again after a concurrent erasure before answering 503.
    static let resealAttempts = 3

    private static func seal(
        _ input: GenerationInput,
        with sealer: BodyEnvelope.Sealer,
        storedAt: Timestamp
    ) throws
        -> SealedGeneration
    {
        let prompt = input.prompt.canonicalBytes
        let completion = input.completion.canonicalBytes
        let reasoning = input.reasoning?.canonicalBytes
        return SealedGeneration(
            id: input.id,
            accountID: input.accountID,
            metadata: input.metadata,
            storedAt: storedAt,
            contentMAC: sealer.contentMAC(input.canonicalContent(prompt: prompt, completion: completion, reasoning: reasoning)),
            promptSealed: try sealer.seal(prompt, generationID: input.id, field: .prompt),
            completionSealed: try sealer.seal(completion, generationID: input.id, field: .completion),
            reasoningSealed: try reasoning.map { try sealer.seal($0, generationID: input.id, field: .reasoning) }
        )
    }

    /// The item's id if it is a well-formed one, so a batch answer can say which item failed.
    private static func readableID(_ item: JSONValue) -> String? {
        guard case .string(let id)? = item["id"], Identifier.isValid(id) else { return nil }
        return id
    }
}
