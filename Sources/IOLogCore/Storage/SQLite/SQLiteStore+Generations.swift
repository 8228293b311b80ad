/// Storing generations and reading one.
extension SQLiteStore {
    public func insertGenerations(_ generations: [SealedGeneration]) async throws -> [InsertOutcome] {
        let checksKeys = checksKeys
        return try await writer.write { db in
            let insert = try db.prepare(
                "INSERT INTO generations (\(RowMapping.generationColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"
            )
            let existing = try db.prepare("SELECT account_id, content_mac FROM generations WHERE id = ?")
            // The write transaction holds the keyring's write lock too (BEGIN IMMEDIATE covers
            // attached databases), so a key destruction is ordered wholly before or after it.
            let destroyed = checksKeys ? try db.prepare("SELECT 1 FROM keyring.destroyed_keys WHERE account_id = ? AND version = ?") : nil
            let boundary = try db.prepare(
                """
                SELECT 1 FROM accounts WHERE id = ?1 AND erased_before > ?2
                UNION ALL SELECT 1 FROM erased_generation_ids WHERE account_id = ?1 AND id = ?3
                """
            )
            return try generations.map { g in
                // Inside the transaction, so a deletion run that starts meanwhile is ordered
                // wholly before or after this insert.
                try boundary.bind([g.accountID, g.createdAt.micros, g.id])
                if try boundary.step() {
                    while try boundary.step() {}
                    return .erased
                }
                if let destroyed, let version = BodyEnvelope.keyVersion(of: g.promptSealed) {
                    try destroyed.bind([g.accountID, Int64(version)])
                    if try destroyed.step() {
                        while try destroyed.step() {}
                        return .keyDestroyed
                    }
                }
                try insert.bind(Self.arguments(of: g))
                while try insert.step() {}
                if db.changes > 0 { return .stored }
                try existing.bind([g.id])
                guard try existing.step() else { return .conflict }
                let row = Row(statement: existing)
                let same = row.text(0) == g.accountID && Digest.constantTimeEqual(row.blob(1), g.contentMAC)
                return same ? .duplicate : .conflict
            }
        }
    }

    static func arguments(of g: SealedGeneration) -> [any SQLBindable] {
        [
            g.id, g.accountID, g.createdAt.micros, g.storedAt.micros, g.userID, g.apiKeyID, g.model, g.provider,
            g.region, g.promptTokens, g.completionTokens, g.costUSD, g.latencyMilliseconds, g.finishReason,
            g.streamed, g.contentMAC, g.promptSealed, g.completionSealed, g.reasoningSealed,
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
