/// One entry of the append-only audit trail (DESIGN §8). Ids and counts only, never content.
public struct AuditEvent: Sendable, Equatable {
    /// Position in the chain, assigned when appended.
    public var sequence: Int64?
    public var occurredAt: Timestamp
    /// Who: a principal's actor string, or `cli:<user>` for commands run on the server.
    public var actor: String
    /// What, e.g. `io_logging.enable`.
    public var action: String
    public var accountID: String?
    /// The object acted on (a generation id, a token id, a user id).
    public var target: String?
    /// Small facts as compact JSON (counts, filters); never bodies.
    public var detail: String?

    public init(
        occurredAt: Timestamp,
        actor: String,
        action: String,
        accountID: String? = nil,
        target: String? = nil,
        detail: String? = nil
    ) {
        self.occurredAt = occurredAt
        self.actor = actor
        self.action = action
        self.accountID = accountID
        self.target = target
        self.detail = detail
    }

    /// The genesis value of `previous_hash` for the first row.
    public static let genesisHash = [UInt8](repeating: 0, count: 32)

    /// SHA-256 over the previous row's hash and this row's fields, length-prefixed, so that
    /// editing, inserting or deleting any row breaks every hash after it.
    public func chainHash(sequence: Int64, previousHash: [UInt8]) -> [UInt8] {
        var encoding = AssociatedData(label: "iolog.audit.v1")
        encoding.append(previousHash)
        encoding.append(String(sequence))
        encoding.append(String(occurredAt.micros))
        encoding.append(actor)
        encoding.append(action)
        encoding.append(accountID.map { "1" + $0 } ?? "0")
        encoding.append(target.map { "1" + $0 } ?? "0")
        encoding.append(detail.map { "1" + $0 } ?? "0")
        return Digest.sha256(encoding.bytes)
    }
}
