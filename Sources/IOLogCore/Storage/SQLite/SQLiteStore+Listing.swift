/// Listing and exporting an account's generations.
extension SQLiteStore {
    public func generationSummaries(
        accountID: String,
        filter: GenerationFilter,
        after cursor: ListCursor?,
        limit: Int
    )
        async throws -> [GenerationSummary]
    {
        try await summaries(Self.listQuery(columns: Self.summaryColumns, accountID: accountID, filter: filter, after: cursor, limit: limit))
    }

    public func generationSummaries(
        accountID: String,
        filter: GenerationFilter,
        newerThan cursor: ListCursor,
        limit: Int
    )
        async throws -> [GenerationSummary]
    {
        let query = Self.listQuery(
            columns: Self.summaryColumns,
            accountID: accountID,
            filter: filter,
            after: cursor,
            limit: limit,
            newer: true
        )
        return try await summaries(query).reversed()
    }

    func summaries(_ query: (String, [any SQLBindable])) async throws -> [GenerationSummary] {
        try await reader.read { db in
            try db.withStatement(query.0) { statement in
                try statement.bind(query.1)
                var rows: [GenerationSummary] = []
                while try statement.step() { rows.append(RowMapping.summary(Row(statement: statement))) }
                return rows
            }
        }
    }

    public func sealedGenerations(
        accountID: String,
        filter: GenerationFilter,
        after cursor: ListCursor?,
        limit: Int
    )
        async throws -> [SealedGeneration]
    {
        let (sql, arguments) = Self.listQuery(
            columns: RowMapping.generationColumns,
            accountID: accountID,
            filter: filter,
            after: cursor,
            limit: limit
        )
        return try await reader.read { db in
            try db.withStatement(sql) { statement in
                try statement.bind(arguments)
                var rows: [SealedGeneration] = []
                while try statement.step() { rows.append(RowMapping.sealedGeneration(Row(statement: statement))) }
                return rows
            }
        }
    }

    /// The list query: equality filters first, then the time range, then the keyset position,
    /// ordered to match the `generations_by_*` indexes so no sort step is needed. With `newer`,
    /// it walks the same index the other way: the rows just newer than `cursor`, oldest first.
    static func listQuery(
        columns: String,
        accountID: String,
        filter: GenerationFilter,
        after cursor: ListCursor?,
        limit: Int,
        newer: Bool = false
    ) -> (String, [any SQLBindable]) {
        var conditions = ["account_id = ?"]
        var arguments: [any SQLBindable] = [accountID]
        for (column, value) in filter.equalities {
            conditions.append("\(column) = ?")
            arguments.append(value)
        }
        if let from = filter.from {
            conditions.append("created_at >= ?")
            arguments.append(from.micros)
        }
        if let to = filter.to {
            conditions.append("created_at < ?")
            arguments.append(to.micros)
        }
        if let cursor {
            conditions.append(newer ? "(created_at, id) > (?, ?)" : "(created_at, id) < (?, ?)")
            arguments.append(cursor.createdAt.micros)
            arguments.append(cursor.id)
        }
        arguments.append(limit)
        let sql = """
            SELECT \(columns) FROM generations WHERE \(conditions.joined(separator: " AND ")) \
            ORDER BY \(newer ? "created_at ASC, id ASC" : "created_at DESC, id DESC") LIMIT ?
            """
        return (sql, arguments)
    }

    static let summaryColumns = RowMapping.metadataColumns + ", reasoning_sealed IS NOT NULL"

}
