/// The recorded retention setting and the retention purge: whole month partitions past the
/// cutoff are dropped; rows are deleted only in the edge partition (and the default one).
extension PostgresStore {
    public func retentionPolicy() async throws -> RetentionPolicy? {
        let text = try await pool.withConnection { c in
            try c.run("SELECT value FROM settings WHERE name = 'retention_months'").first?.text(0)
        }
        return try text.map { text throws(IOLogError) in try RetentionPolicy(parsing: text) }
    }

    @discardableResult
    public func setRetentionPolicy(_ policy: RetentionPolicy, at time: Timestamp, audit: AuditEvent) async throws -> RetentionPolicy? {
        let value = policy.months.map(String.init) ?? "unlimited"
        let previous = try await pool.transaction { c -> String? in
            // The row lock orders replicas starting at the same time.
            try c.run("INSERT INTO settings (name, value, updated_at) VALUES ('retention_months', '', 0) ON CONFLICT (name) DO NOTHING")
            let current = try c.run("SELECT value FROM settings WHERE name = 'retention_months' FOR UPDATE").first?.text(0)
            let recorded = current == "" ? nil : current
            guard recorded != value else { return recorded }
            try c.run("UPDATE settings SET value = $1, updated_at = $2 WHERE name = 'retention_months'", value, time.micros)
            try Self.append(audit, in: c)
            return recorded
        }
        return try previous.map { text throws(IOLogError) in try RetentionPolicy(parsing: text) }
    }

    public func purgeableCounts(before cutoff: Timestamp) async throws -> [String: Int] {
        let rows = try await pool.withConnection { c in
            try c.run("SELECT account_id, count(*) FROM generations WHERE created_at < $1 GROUP BY account_id", cutoff.micros)
                .rows.map { ($0.text(0), Int($0.int64(1))) }
        }
        return Dictionary(rows, uniquingKeysWith: +)
    }

    public func purgeBatch(before cutoff: Timestamp, limit: Int) async throws -> [String: Int] {
        try await pool.transaction { c in
            // A whole month past the cutoff goes at once: counted, its ids forgotten, dropped.
            for month in try Self.partitionMonths(in: c).sorted() where MonthPartition.end(of: month) <= cutoff.micros {
                let table = MonthPartition.tableName(month)
                let counts = try c.run("SELECT account_id, count(*) FROM \(table) GROUP BY account_id").rows
                    .map { ($0.text(0), Int($0.int64(1))) }
                try c.run(
                    "DELETE FROM generation_ids WHERE created_at >= $1 AND created_at < $2",
                    MonthPartition.start(of: month),
                    MonthPartition.end(of: month)
                )
                try c.run("DROP TABLE \(table)")
                self.partitions.withLock { _ = $0.remove(month) }
                if !counts.isEmpty { return Dictionary(counts, uniquingKeysWith: +) }
            }
            // The edge month (and any outlier in the default partition): the oldest rows first.
            let accounts = try c.run(
                """
                WITH doomed AS (
                    SELECT id, created_at FROM generations WHERE created_at < $1 ORDER BY created_at LIMIT $2
                ), gone AS (
                    DELETE FROM generations g USING doomed d WHERE g.id = d.id AND g.created_at = d.created_at
                    RETURNING g.account_id, g.id
                ), forgotten AS (
                    DELETE FROM generation_ids WHERE id IN (SELECT id FROM gone)
                )
                SELECT account_id FROM gone
                """,
                cutoff.micros,
                limit
            ).rows.map { $0.text(0) }
            return accounts.reduce(into: [:]) { counts, account in counts[account, default: 0] += 1 }
        }
    }
}
