/// The hash-chained audit trail: appends (one at a time: SQLite has one writer) and reads.
extension SQLiteStore {
    public func appendAudit(_ events: [AuditEvent]) async throws {
        try await writer.write { db in
            for event in events { try Self.append(event, to: db) }
        }
    }

    /// Appends inside the caller's transaction, so the event commits with what it records.
    static func append(_ event: AuditEvent, to db: Database) throws {
        let last = try db.queryFirst("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1") {
            ($0.int64(0), $0.blob(1))
        }
        // AUTOINCREMENT never reuses a sequence number, even after the last row was deleted;
        // the chain check catches such a deletion through the previous-hash link.
        let sequence =
            try db.queryFirst("SELECT seq FROM sqlite_sequence WHERE name = 'audit_events'") { $0.int64(0) }
            .map { $0 + 1 } ?? 1
        let previousHash = last?.1 ?? AuditEvent.genesisHash
        let hash = event.chainHash(sequence: sequence, previousHash: previousHash)
        try db.execute(
            """
            INSERT INTO audit_events (seq, occurred_at, actor, action, account_id, target, detail, previous_hash, hash)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            sequence,
            event.occurredAt.micros,
            event.actor,
            event.action,
            event.accountID,
            event.target,
            event.detail,
            previousHash,
            hash
        )
    }

    public func auditEvents(accountID: String, actions: [String]?, before: Int64?, limit: Int) async throws -> [StoredAuditEvent] {
        let actionList = actions.map { JSONValue.array($0.map(JSONValue.string)).canonicalText }
        return try await reader.read { db in
            try db.query(
                """
                SELECT \(RowMapping.auditColumns) FROM audit_events
                WHERE account_id = ? AND seq < ? AND (?3 IS NULL OR action IN (SELECT value FROM json_each(?3)))
                ORDER BY seq DESC LIMIT ?
                """,
                accountID,
                before ?? Int64.max,
                actionList,
                limit,
                map: RowMapping.auditEvent
            )
        }
    }

    public func verifyAuditChain() async throws -> AuditVerification {
        // Read in chunks on the reader connection, inside one read transaction so the chain
        // is checked as of one moment while appends go on.
        try await reader.read { db in
            try db.execute("BEGIN")
            defer { try? db.execute("COMMIT") }
            var walker = AuditChainWalker()
            var after: Int64 = 0
            while true {
                let chunk = try db.query(
                    "SELECT \(RowMapping.auditColumns) FROM audit_events WHERE seq > ? ORDER BY seq LIMIT 10000",
                    after,
                    map: RowMapping.auditEvent
                )
                for row in chunk {
                    if let broken = walker.check(row) { return broken }
                }
                guard let last = chunk.last else { break }
                after = last.sequence
            }
            let highest = try db.queryFirst("SELECT seq FROM sqlite_sequence WHERE name = 'audit_events'") { $0.int64(0) } ?? 0
            return walker.finish(highestSequenceUsed: highest)
        }
    }

}
