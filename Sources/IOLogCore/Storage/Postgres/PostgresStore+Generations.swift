/// Storing generations and reading one.
extension PostgresStore {
    public func insertGenerations(_ generations: [SealedGeneration]) async throws -> [InsertOutcome] {
        try await ensurePartitions(for: generations.map(\.createdAt.micros))
        // Rows in id order, so two replicas committing overlapping ids lock them in the same
        // order; a deadlock the server still finds (or a serialization failure) is retried.
        let order = generations.indices.sorted { generations[$0].id < generations[$1].id }
        let sorted = order.map { generations[$0] }
        let outcomes = try await pool.retryingTransaction { c in try Self.insert(sorted, in: c) }
        var inOriginalOrder = [InsertOutcome](repeating: .conflict, count: generations.count)
        for (position, index) in order.enumerated() { inOriginalOrder[index] = outcomes[position] }
        return inOriginalOrder
    }

    private static func insert(_ generations: [SealedGeneration], in c: PostgresConnection) throws -> [InsertOutcome] {
        var lockedAccounts: [String: Int64?] = [:]
        var liveKeys: [String: Bool] = [:]
        return try generations.map { g in
            // A share lock on the account row orders this insert against `startDeletion`
            // (which updates the row) on any replica: wholly before or after it.
            if lockedAccounts[g.accountID] == nil {
                lockedAccounts[g.accountID] =
                    try c.run("SELECT erased_before FROM accounts WHERE id = $1 FOR SHARE", g.accountID).first?.optionalInt64(0)
            }
            if let boundary = lockedAccounts[g.accountID] ?? nil, boundary > g.createdAt.micros { return .erased }
            if try c.run("SELECT 1 FROM erased_generation_ids WHERE account_id = $1 AND id = $2", g.accountID, g.id).first != nil {
                return .erased
            }
            if let userID = g.userID,
                try c.run(
                    "SELECT 1 FROM erased_users WHERE account_id = $1 AND user_id = $2 AND erased_before > $3",
                    g.accountID,
                    userID,
                    g.createdAt.micros
                ).first != nil
            {
                return .erased
            }
            // A share lock on the key row: `destroyKeys` deletes it, so it waits for this
            // transaction, and once it has committed this finds no row.
            if let version = BodyEnvelope.keyVersion(of: g.promptSealed) {
                let slot = "\(g.accountID)\u{0}\(version)"
                if liveKeys[slot] == nil {
                    liveKeys[slot] =
                        try c.run(
                            "SELECT 1 FROM iolog_keyring.data_keys WHERE account_id = $1 AND version = $2 FOR SHARE",
                            g.accountID,
                            Int64(version)
                        ).first != nil
                }
                if liveKeys[slot] == false { return .keyDestroyed }
            }
            let claimed = try c.run(
                "INSERT INTO generation_ids (id, account_id, created_at, content_mac) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
                g.id,
                g.accountID,
                g.createdAt.micros,
                g.contentMAC
            ).affectedRows
            guard claimed == 1 else {
                guard let row = try c.run("SELECT account_id, content_mac FROM generation_ids WHERE id = $1", g.id).first else {
                    return .conflict
                }
                let same = row.text(0) == g.accountID && Digest.constantTimeEqual(row.blob(1), g.contentMAC)
                return same ? .duplicate : .conflict
            }
            try c.execute(
                """
                INSERT INTO generations (\(RowMapping.generationColumns))
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
                """,
                arguments(of: g)
            )
            return .stored
        }
    }

    /// The values of `RowMapping.generationColumns` for one row.
    public static func arguments(of g: SealedGeneration) -> [SQLValue] {
        let values: [any SQLBindable] = [
            g.id, g.accountID, g.createdAt.micros, g.storedAt.micros, g.userID, g.apiKeyID, g.model, g.provider,
            g.region, g.promptTokens, g.completionTokens, g.costUSD, g.latencyMilliseconds, g.finishReason,
            g.streamed, g.sessionID, g.contentMAC, g.promptSealed, g.completionSealed, g.reasoningSealed,
        ]
        return values.map(\.sqlValue)
    }

    /// Creates the month partitions these rows need that this process has not seen yet (a
    /// month far ahead of the clock is left to the default partition).
    public func ensurePartitions(for times: [Int64]) async throws {
        let now = MonthPartition.month(ofMicros: Clock.system.nowMicros())
        let needed = Set(times.map(MonthPartition.month(ofMicros:))).filter { $0 <= now + MonthPartition.monthsAhead }
        let missing = partitions.withLock { needed.subtracting($0) }
        guard !missing.isEmpty else { return }
        try await createPartitions(missing)
    }

    /// Creates each month's partition unless it exists (another replica may create it at the
    /// same moment: that is fine). A month whose rows already sit in the default partition
    /// keeps using it.
    func createPartitions(_ months: Set<Int>) async throws {
        let created = try await pool.withConnection { c in
            var existing = try Self.partitionMonths(in: c)
            for month in months.sorted() where !existing.contains(month) {
                do {
                    try c.run(
                        "SELECT create_month_partition($1, $2, $3)",
                        MonthPartition.tableName(month),
                        MonthPartition.start(of: month),
                        MonthPartition.end(of: month)
                    )
                    existing.insert(month)
                } catch let error as PostgresError where ["42P07", "23505", "23514", "40P01"].contains(error.sqlState) {
                    // Made concurrently (42P07, 23505), or the default partition holds rows of
                    // that month (23514): rows of it keep going there.
                    existing.insert(month)
                }
            }
            return existing
        }
        partitions.withLock { $0.formUnion(created) }
    }

    /// The months that have a partition now.
    static func partitionMonths(in c: PostgresConnection) throws -> Set<Int> {
        let names = try c.run(
            """
            SELECT child.relname::text FROM pg_inherits i
            JOIN pg_class child ON child.oid = i.inhrelid
            JOIN pg_class parent ON parent.oid = i.inhparent
            JOIN pg_namespace n ON n.oid = parent.relnamespace
            WHERE parent.relname = 'generations' AND n.nspname = 'iolog'
            """
        ).rows.map { $0.text(0) }
        return Set(names.compactMap(MonthPartition.month(ofTable:)))
    }

    public func generation(id: String) async throws -> SealedGeneration? {
        try await pool.withConnection { c in
            try c.run("SELECT \(RowMapping.generationColumns) FROM generations WHERE id = $1", id).first.map(RowMapping.sealedGeneration)
        }
    }

    public func generation(accountID: String, id: String) async throws -> SealedGeneration? {
        try await pool.withConnection { c in
            try c.run("SELECT \(RowMapping.generationColumns) FROM generations WHERE id = $1 AND account_id = $2", id, accountID)
                .first.map(RowMapping.sealedGeneration)
        }
    }

    static let summaryColumns = RowMapping.metadataColumns + ", (reasoning_sealed IS NOT NULL)::int"

    public func generationSummaries(
        accountID: String,
        filter: GenerationFilter,
        after cursor: ListCursor?,
        limit: Int
    ) async throws
        -> [GenerationSummary]
    {
        try await summaries(Self.listQuery(columns: Self.summaryColumns, accountID: accountID, filter: filter, after: cursor, limit: limit))
    }

    public func generationSummaries(
        accountID: String,
        filter: GenerationFilter,
        newerThan cursor: ListCursor,
        limit: Int
    ) async throws
        -> [GenerationSummary]
    {
        let query = Self.listQuery(columns: Self.summaryColumns, accountID: accountID, filter: filter, after: cursor, limit: limit, newer: true)
        return try await summaries(query).reversed()
    }

    private func summaries(_ query: (String, [SQLValue])) async throws -> [GenerationSummary] {
        try await pool.withConnection { c in
            try c.execute(query.0, query.1).rows.map(RowMapping.summary)
        }
    }

    public func sealedGenerations(
        accountID: String,
        filter: GenerationFilter,
        after cursor: ListCursor?,
        limit: Int
    ) async throws
        -> [SealedGeneration]
    {
        let (sql, arguments) = Self.listQuery(
            columns: RowMapping.generationColumns,
            accountID: accountID,
            filter: filter,
            after: cursor,
            limit: limit
        )
        return try await pool.withConnection { c in try c.execute(sql, arguments).rows.map(RowMapping.sealedGeneration) }
    }

    /// The list query, shaped like SQLite's (`SQLiteStore.listQuery`): equality filters, the
    /// time range, the keyset position, ordered to match the `generations_by_*` indexes.
    static func listQuery(
        columns: String,
        accountID: String,
        filter: GenerationFilter,
        after cursor: ListCursor?,
        limit: Int,
        newer: Bool = false
    ) -> (String, [SQLValue]) {
        var conditions = ["account_id = $1"]
        var arguments: [SQLValue] = [.text(accountID)]
        func bind(_ value: SQLValue) -> String {
            arguments.append(value)
            return "$\(arguments.count)"
        }
        for (column, value) in filter.equalities { conditions.append("\(column) = \(bind(.text(value)))") }
        if let from = filter.from { conditions.append("created_at >= \(bind(.integer(from.micros)))") }
        if let to = filter.to { conditions.append("created_at < \(bind(.integer(to.micros)))") }
        if let cursor {
            let position = "(\(bind(.integer(cursor.createdAt.micros))), \(bind(.text(cursor.id))))"
            conditions.append("(created_at, id) \(newer ? ">" : "<") \(position)")
        }
        let sql = """
            SELECT \(columns) FROM generations WHERE \(conditions.joined(separator: " AND ")) \
            ORDER BY \(newer ? "created_at ASC, id ASC" : "created_at DESC, id DESC") LIMIT \(bind(.integer(Int64(limit))))
            """
        return (sql, arguments)
    }
}
