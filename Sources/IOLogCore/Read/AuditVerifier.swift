/// A stored audit row, as `iolog audit verify` and the audit API read it.
public struct StoredAuditEvent: Sendable, Equatable {
    public let sequence: Int64
    public let event: AuditEvent
    public let previousHash: [UInt8]
    public let hash: [UInt8]
}

/// What `iolog audit verify` found.
public enum AuditVerification: Sendable, Equatable {
    /// Every row links to the one before and hashes to what it says; `head` is the last hash.
    case intact(rows: Int, head: [UInt8])
    /// The first broken row and why.
    case broken(sequence: Int64, reason: String)
}

/// Walks the hash chain of `audit_events` in sequence order, one row at a time, so a long
/// trail is checked in constant memory.
public struct AuditChainWalker: Sendable {
    private var previousHash = AuditEvent.genesisHash
    private var expectedSequence: Int64 = 1

    public init() {}

    /// Checks the next row: its place in the sequence, its link to the row before, and its own hash.
    /// Returns the first problem found, or nil.
    public mutating func check(_ row: StoredAuditEvent) -> AuditVerification? {
        if row.sequence != expectedSequence {
            let missing =
                row.sequence - expectedSequence == 1
                ? "row \(expectedSequence) is missing" : "rows \(expectedSequence)–\(row.sequence - 1) are missing"
            return .broken(sequence: expectedSequence, reason: missing)
        }
        guard row.previousHash == previousHash else {
            return .broken(sequence: row.sequence, reason: "row \(row.sequence) does not link to the row before it")
        }
        guard row.event.chainHash(sequence: row.sequence, previousHash: row.previousHash) == row.hash else {
            return .broken(sequence: row.sequence, reason: "row \(row.sequence) was edited (its hash does not match its fields)")
        }
        previousHash = row.hash
        expectedSequence += 1
        return nil
    }

    /// After the last row: rows removed from the end show as a highest-ever sequence number
    /// (SQLite's `sqlite_sequence`) beyond the last row seen.
    public func finish(highestSequenceUsed: Int64) -> AuditVerification {
        if highestSequenceUsed >= expectedSequence {
            return .broken(sequence: expectedSequence, reason: "row \(expectedSequence) and later were removed from the end")
        }
        return .intact(rows: Int(expectedSequence - 1), head: previousHash)
    }
}
