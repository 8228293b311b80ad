/// The hash-chained audit trail: appends hold the chain head's row lock, so appends from every
/// connection of every replica form one chain.
extension PostgresStore {
    /// Appends inside the caller's transaction, so the event commits with what it records.
    static func append(_ event: AuditEvent, in c: PostgresConnection) throws {
        guard let head = try c.run("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE").first else {
            throw IOLogError.corrupted("the audit chain head is missing; was the schema migrated?")
        }
        let sequence = head.int64(0) + 1
        let previousHash = head.blob(1)
        let hash = event.chainHash(sequence: sequence, previousHash: previousHash)
        try c.run(
            """
            INSERT INTO audit_events (seq, occurred_at, actor, action, account_id, target, detail, previous_hash, hash)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
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
        try c.run("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", sequence, hash)
    }

    /// Appends `audit` to the trail of every account `userID` belongs to (once without an
    /// account when there is none, or for tokens of no user).
    static func appendForUser(_ audit: AuditEvent, userID: String?, in c: PostgresConnection) throws {
        guard audit.accountID == nil else { return try append(audit, in: c) }
        let accounts =
            try userID.map { user in
                try c.run("SELECT account_id FROM memberships WHERE user_id = $1 ORDER BY account_id", user).rows.map { $0.text(0) }
            } ?? []
        guard !accounts.isEmpty else { return try append(audit, in: c) }
        for account in accounts {
            var event = audit
            event.accountID = account
            try append(event, in: c)
        }
    }

    public func appendAudit(_ events: [AuditEvent]) async throws {
        try await pool.transaction { c in
            for event in events { try Self.append(event, in: c) }
        }
    }

    public func auditEvents(accountID: String, actions: [String]?, before: Int64?, limit: Int) async throws -> [StoredAuditEvent] {
        let actionList = actions.map { JSONValue.array($0.map(JSONValue.string)).canonicalText }
        return try await pool.withConnection { c in
            try c.run(
                """
                SELECT \(RowMapping.auditColumns) FROM audit_events
                WHERE account_id = $1 AND seq < $2
                  AND ($3::jsonb IS NULL OR action IN (SELECT jsonb_array_elements_text($3::jsonb)))
                ORDER BY seq DESC LIMIT $4
                """,
                accountID,
                before ?? Int64.max,
                actionList,
                limit
            ).rows.map(RowMapping.auditEvent)
        }
    }

    public func verifyAuditChain() async throws -> AuditVerification {
        // One snapshot for the whole walk, while appends go on.
        try await pool.withConnection { c in
            try c.executeScript("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            defer { try? c.executeScript("COMMIT") }
            var walker = AuditChainWalker()
            var after: Int64 = 0
            while true {
                let chunk = try c.run("SELECT \(RowMapping.auditColumns) FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT 10000", after)
                    .rows.map(RowMapping.auditEvent)
                for row in chunk {
                    if let broken = walker.check(row) { return broken }
                }
                guard let last = chunk.last else { break }
                after = last.sequence
            }
            let highest = try c.run("SELECT seq FROM audit_head WHERE id = 1").first?.int64(0) ?? 0
            return walker.finish(highestSequenceUsed: highest)
        }
    }
}
