/// A result row of either engine, read by column index (SQLite's `Row`, PostgreSQL's
/// `PostgresRow`), so rows become domain values in one place for both engines.
protocol StoredRow {
    func isNull(_ index: Int32) -> Bool
    func int64(_ index: Int32) -> Int64
    func optionalInt64(_ index: Int32) -> Int64?
    func optionalDouble(_ index: Int32) -> Double?
    func text(_ index: Int32) -> String
    func optionalText(_ index: Int32) -> String?
    func blob(_ index: Int32) -> [UInt8]
    func optionalBlob(_ index: Int32) -> [UInt8]?
}

extension Row: StoredRow {}
extension PostgresRow: StoredRow {}

/// Domain values from the column lists both engines select (the SQL differs; the column order
/// does not).
public enum RowMapping {
    /// Columns of `accounts a`; `account(_:)` reads the first six.
    static let accountColumns = "a.id, a.kind, a.name, a.io_logging_enabled, a.io_logging_enabled_at, a.erased_before"

    static func account(_ row: some StoredRow) -> Account {
        Account(
            id: row.text(0),
            kind: AccountKind(rawValue: row.text(1)) ?? .organization,
            name: row.optionalText(2),
            ioLogging: IOLoggingSetting(enabled: row.int64(3) == 1, enabledAt: row.optionalInt64(4).map(Timestamp.init(micros:))),
            erasedBefore: row.optionalInt64(5).map(Timestamp.init(micros:))
        )
    }

    /// Columns of the keyring's `data_keys`.
    static let dataKeyColumns = "account_id, version, wrapped, master_key_id, created_at, seals"

    static func dataKey(_ row: some StoredRow) -> WrappedDataKey {
        WrappedDataKey(
            accountID: row.text(0),
            version: UInt32(truncatingIfNeeded: row.int64(1)),
            wrapped: row.blob(2),
            masterKeyID: row.optionalText(3),
            createdAt: Timestamp(micros: row.int64(4)),
            seals: row.int64(5)
        )
    }

    /// Columns of the keyring's `master_key_check`.
    static let masterKeyColumns = "key_id, sealed, next_key_id, next_sealed"

    static func masterKeyState(_ row: some StoredRow) -> MasterKeyState {
        MasterKeyState(keyID: row.optionalText(0), sealed: row.blob(1), nextKeyID: row.optionalText(2), nextSealed: row.optionalBlob(3))
    }

    /// Columns of `tokens`; the secret's digest is column 6.
    static let tokenColumns = "id, kind, user_id, label, created_at, revoked_at, secret_sha256, created_by, account_id"

    static func token(_ row: some StoredRow) -> TokenRecord {
        TokenRecord(
            id: row.text(0),
            kind: TokenKind(rawValue: row.text(1)) ?? .user,
            userID: row.optionalText(2),
            accountID: row.optionalText(8),
            label: row.optionalText(3),
            createdAt: Timestamp(micros: row.int64(4)),
            revokedAt: row.optionalInt64(5).map(Timestamp.init(micros:)),
            createdBy: row.optionalText(7)
        )
    }

    static let auditColumns = "seq, occurred_at, actor, action, account_id, target, detail, previous_hash, hash"

    static func auditEvent(_ row: some StoredRow) -> StoredAuditEvent {
        var event = AuditEvent(
            occurredAt: Timestamp(micros: row.int64(1)),
            actor: row.text(2),
            action: row.text(3),
            accountID: row.optionalText(4),
            target: row.optionalText(5),
            detail: row.optionalText(6)
        )
        event.sequence = row.int64(0)
        return StoredAuditEvent(sequence: row.int64(0), event: event, previousHash: row.blob(7), hash: row.blob(8))
    }

    static let deletionColumns = """
        id, account_id, requested_by, filed_by, ticket, scope, scope_generation_ids, scope_before, status, created_at, \
        run_by, started_at, keys_destroyed_at, finished_at, rows_erased, keys_destroyed, failure, scope_user_id
        """

    static func deletionRequest(_ row: some StoredRow) -> DeletionRequest {
        DeletionRequest.fromColumns(text: { row.optionalText(Int32($0)) }, integer: { row.optionalInt64(Int32($0)) })
    }

    /// Columns of `generations` in the order both engines read and write them (public for the
    /// storage-limit benchmark, which writes the same rows without iolog in between).
    public static let generationColumns = """
        id, account_id, created_at, stored_at, user_id, api_key_id, model, provider, region, prompt_tokens, \
        completion_tokens, cost_usd, latency_ms, finish_reason, streamed, session_id, content_mac, prompt_sealed, \
        completion_sealed, reasoning_sealed
        """

    /// Columns 0–15 of both the generation and the summary column lists: the metadata.
    static let metadataColumns = """
        id, account_id, created_at, stored_at, user_id, api_key_id, model, provider, region, prompt_tokens, \
        completion_tokens, cost_usd, latency_ms, finish_reason, streamed, session_id
        """

    /// Columns 0–15 (shared by the generation and summary column lists), without bodies.
    static func metadata(_ row: some StoredRow) -> SealedGeneration {
        SealedGeneration.fromMetadataColumns(
            text: { row.optionalText(Int32($0)) },
            integer: { row.optionalInt64(Int32($0)) },
            real: { row.optionalDouble(Int32($0)) }
        )
    }

    static func sealedGeneration(_ row: some StoredRow) -> SealedGeneration {
        var generation = metadata(row)
        generation.contentMAC = row.blob(16)
        generation.promptSealed = row.blob(17)
        generation.completionSealed = row.blob(18)
        generation.reasoningSealed = row.optionalBlob(19)
        return generation
    }

    /// A list entry from the summary columns: metadata, then 1 when there is a reasoning body.
    static func summary(_ row: some StoredRow) -> GenerationSummary {
        var sealed = metadata(row)
        sealed.reasoningSealed = row.int64(16) == 1 ? [] : nil
        return GenerationSummary(sealed)
    }
}
