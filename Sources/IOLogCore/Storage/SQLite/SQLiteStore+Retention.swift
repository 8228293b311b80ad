/// The recorded retention setting and the retention purge.
extension SQLiteStore {
    static let recordedRetention = "SELECT value FROM settings WHERE name = 'retention_months'"

    public func retentionPolicy() async throws -> RetentionPolicy? {
        let text = try await reader.read { db in
            try db.queryFirst(Self.recordedRetention) { $0.text(0) }
        }
        return try text.map { text throws(IOLogError) in try RetentionPolicy(parsing: text) }
    }

    @discardableResult
    public func setRetentionPolicy(_ policy: RetentionPolicy, at time: Timestamp, audit: AuditEvent) async throws -> RetentionPolicy? {
        let value = policy.months.map(String.init) ?? "unlimited"
        let previous = try await writer.write { db -> String? in
            let current = try db.queryFirst(Self.recordedRetention) { $0.text(0) }
            guard current != value else { return current }
            try db.execute(
                """
                INSERT INTO settings (name, value, updated_at) VALUES ('retention_months', ?, ?)
                ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
                """,
                value,
                time.micros
            )
            try Self.append(audit, to: db)
            return current
        }
        return try previous.map { text throws(IOLogError) in try RetentionPolicy(parsing: text) }
    }

    public func purgeableCounts(before cutoff: Timestamp) async throws -> [String: Int] {
        let rows = try await reader.read { db in
            try db.query("SELECT account_id, count(*) FROM generations WHERE created_at < ? GROUP BY account_id", cutoff.micros) {
                ($0.text(0), Int($0.int64(1)))
            }
        }
        return Dictionary(rows, uniquingKeysWith: +)
    }

    public func purgeBatch(before cutoff: Timestamp, limit: Int) async throws -> [String: Int] {
        try await writer.write { db in
            // The oldest first, through generations_by_age; RETURNING gives the per-account counts.
            let accounts = try db.query(
                """
                DELETE FROM generations WHERE rowid IN (
                    SELECT rowid FROM generations WHERE created_at < ? ORDER BY created_at LIMIT ?
                ) RETURNING account_id
                """,
                cutoff.micros,
                limit
            ) { $0.text(0) }
            return accounts.reduce(into: [:]) { counts, account in counts[account, default: 0] += 1 }
        }
    }
}
