/// Storing generations and reading one.
extension SQLiteStore {
    public func insertGenerations(_ generations: [SealedGeneration]) async throws -> [InsertOutcome] {
        let checksKeys = checksKeys
        return try await writer.write { db in
            // The write transaction holds the keyring's write lock too (BEGIN IMMEDIATE covers
            // attached databases), so a key destruction is ordered wholly before or after it.
            try generations.map { g in
                // Inside the transaction, so a deletion run that starts meanwhile is ordered
                // wholly before or after this insert.
                let erased = try db.withStatement(Self.boundaryCheck) { boundary in
                    try boundary.bind([g.accountID, g.createdAt.micros, g.id, g.userID])
                    return try boundary.step()
                }
                if erased { return .erased }
                if checksKeys, let version = BodyEnvelope.keyVersion(of: g.promptSealed) {
                    let destroyed = try db.withStatement("SELECT 1 FROM keyring.destroyed_keys WHERE account_id = ? AND version = ?") {
                        try $0.bind([g.accountID, Int64(version)])
                        return try $0.step()
                    }
                    if destroyed { return .keyDestroyed }
                }
                let inserted = try db.withStatement(Self.insertGeneration) { insert in
                    try insert.bind(Self.arguments(of: g))
                    while try insert.step() {}
                    return db.changes > 0
                }
                if inserted { return .stored }
                return try db.withStatement("SELECT account_id, content_mac FROM generations WHERE id = ?") { existing in
                    try existing.bind([g.id])
                    guard try existing.step() else { return .conflict }
                    let row = Row(statement: existing)
                    let same = row.text(0) == g.accountID && Digest.constantTimeEqual(row.blob(1), g.contentMAC)
                    return same ? .duplicate : .conflict
                }
            }
        }
    }

    private static let insertGeneration =
        "INSERT INTO generations (\(RowMapping.generationColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"

    private static let boundaryCheck = """
        SELECT 1 FROM accounts WHERE id = ?1 AND erased_before > ?2
        UNION ALL SELECT 1 FROM erased_generation_ids WHERE account_id = ?1 AND id = ?3
        UNION ALL SELECT 1 FROM erased_users WHERE account_id = ?1 AND user_id = ?4 AND erased_before > ?2
        """

    static func arguments(of g: SealedGeneration) -> [any SQLBindable] {
        [
            g.id, g.accountID, g.createdAt.micros, g.storedAt.micros, g.userID, g.apiKeyID, g.model, g.provider,
            g.region, g.promptTokens, g.completionTokens, g.costUSD, g.latencyMilliseconds, g.finishReason,
            g.streamed, g.sessionID, g.contentMAC, g.promptSealed, g.completionSealed, g.reasoningSealed,
        ]
    }

    public func generation(id: String) async throws -> SealedGeneration? {
        try await reader.read { db in
            try db.queryFirst("SELECT \(RowMapping.generationColumns) FROM generations WHERE id = ?", id, map: RowMapping.sealedGeneration)
        }
    }

    public func generation(accountID: String, id: String) async throws -> SealedGeneration? {
        try await reader.read { db in
            try db.queryFirst(
                "SELECT \(RowMapping.generationColumns) FROM generations WHERE id = ? AND account_id = ?",
                id,
                accountID,
                map: RowMapping.sealedGeneration
            )
        }
    }
}
