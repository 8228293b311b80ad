/// Owners' deletion requests and the erasure of their scope.
extension SQLiteStore {
    static func deletionRequest(id: String, in db: Database) throws -> DeletionRequest {
        guard
            let request = try db.queryFirst(
                "SELECT \(RowMapping.deletionColumns) FROM deletion_requests WHERE id = ?",
                id,
                map: RowMapping.deletionRequest
            )
        else {
            throw IOLogError.notFound("no deletion request \(id)")
        }
        return request
    }

    public func insertDeletionRequest(_ request: DeletionRequest, audit: AuditEvent) async throws {
        let (ids, before, user) = request.scope.columns
        try await writer.write { [ids, before, user] db in
            try db.execute(
                """
                INSERT INTO deletion_requests (id, account_id, requested_by, filed_by, ticket, scope, scope_generation_ids,
                    scope_before, status, created_at, scope_user_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                request.id,
                request.accountID,
                request.requestedBy,
                request.filedBy,
                request.ticket,
                request.scope.name,
                ids,
                before,
                request.status.rawValue,
                request.createdAt.micros,
                user
            )
            try Self.append(audit, to: db)
        }
    }

    public func deletionRequest(id: String) async throws -> DeletionRequest? {
        try await reader.read { db in
            try db.queryFirst("SELECT \(RowMapping.deletionColumns) FROM deletion_requests WHERE id = ?", id, map: RowMapping.deletionRequest)
        }
    }

    public func deletionRequests(accountID: String?, status: DeletionStatus?) async throws -> [DeletionRequest] {
        try await reader.read { db in
            try db.query(
                """
                SELECT \(RowMapping.deletionColumns) FROM deletion_requests
                WHERE (?1 IS NULL OR account_id = ?1) AND (?2 IS NULL OR status = ?2)
                ORDER BY created_at DESC, rowid DESC
                """,
                accountID,
                status?.rawValue,
                map: RowMapping.deletionRequest
            )
        }
    }

    public func startDeletion(
        id: String,
        runBy: String,
        at time: Timestamp,
        erasedBefore: Timestamp?,
        audit: AuditEvent
    ) async throws
        -> DeletionRequest
    {
        try await writer.write { db in
            if let erasedBefore {
                try db.execute(
                    """
                    UPDATE accounts SET erased_before = max(coalesce(erased_before, ?1), ?1)
                    WHERE id = (SELECT account_id FROM deletion_requests WHERE id = ?2)
                    """,
                    erasedBefore.micros,
                    id
                )
            }
            // Ids of a `generations` scope are remembered, so a retry of one is never stored again.
            try db.execute(
                """
                INSERT INTO erased_generation_ids (account_id, id, request_id)
                SELECT r.account_id, j.value, r.id FROM deletion_requests r, json_each(r.scope_generation_ids) j
                WHERE r.id = ? AND r.scope = 'generations'
                ON CONFLICT (account_id, id) DO NOTHING
                """,
                id
            )
            // A `user` scope's user: nothing of theirs created up to the request is stored again.
            try db.execute(
                """
                INSERT INTO erased_users (account_id, user_id, erased_before, request_id)
                SELECT account_id, scope_user_id, created_at + 1, id FROM deletion_requests WHERE id = ? AND scope = 'user'
                ON CONFLICT (account_id, user_id) DO UPDATE SET erased_before = max(erased_before, excluded.erased_before),
                    request_id = excluded.request_id
                """,
                id
            )
            try db.execute(
                """
                UPDATE deletion_requests SET status = 'running', run_by = ?, started_at = coalesce(started_at, ?),
                    finished_at = NULL, failure = NULL
                WHERE id = ? AND status != 'completed'
                """,
                runBy,
                time.micros,
                id
            )
            try Self.append(audit, to: db)
            return try Self.deletionRequest(id: id, in: db)
        }
    }

    public func recordKeysToDestroy(id: String, count: Int) async throws {
        try await writer.write { db in _ = try db.execute("UPDATE deletion_requests SET keys_destroyed = ? WHERE id = ?", count, id) }
    }

    public func markKeysDestroyed(id: String, at time: Timestamp) async throws -> DeletionRequest {
        try await writer.write { db in
            try db.execute("UPDATE deletion_requests SET keys_destroyed_at = ? WHERE id = ?", time.micros, id)
            return try Self.deletionRequest(id: id, in: db)
        }
    }

    public func eraseBatch(request: DeletionRequest, limit: Int) async throws -> Int {
        let sql: String
        var arguments: [any SQLBindable]
        switch request.scope {
        case .generations(let ids):
            // Looked up by primary key (`+account_id` keeps the planner off the account indexes,
            // which would scan every row of a large account); ids of other accounts are ignored.
            sql = "DELETE FROM generations WHERE id IN (SELECT value FROM json_each(?)) AND +account_id = ?"
            arguments = [JSONValue.array(ids.map(JSONValue.string)).canonicalText, request.accountID]
        case .account, .before, .user:
            // Oldest first through generations_by_time (generations_by_user for a user):
            // neighbouring rows, so a batch rewrites few pages.
            var condition = ""
            arguments = [request.accountID]
            if case .before(let time) = request.scope {
                condition = "AND created_at < ?"
                arguments.append(time.micros)
            }
            if case .user(let userID) = request.scope {
                condition = "AND user_id = ?"
                arguments.append(userID)
            }
            arguments.append(limit)
            sql = """
                DELETE FROM generations WHERE rowid IN (
                    SELECT rowid FROM generations WHERE account_id = ? \(condition) ORDER BY created_at LIMIT ?
                )
                """
        }
        return try await writer.write { [arguments] db in
            let erased = try db.withStatement(sql) { statement in
                try statement.bind(arguments)
                _ = try statement.step()
                return db.changes
            }
            // The receipt's counter moves in the same transaction as the rows it counts.
            try db.execute("UPDATE deletion_requests SET rows_erased = rows_erased + ? WHERE id = ?", erased, request.id)
            return erased
        }
    }

    public func finishDeletion(
        id: String,
        status: DeletionStatus,
        failure: String?,
        at time: Timestamp,
        audit: AuditEvent
    ) async throws
        -> DeletionRequest
    {
        try await writer.write { db in
            try db.execute(
                "UPDATE deletion_requests SET status = ?, failure = ?, finished_at = ? WHERE id = ?",
                status.rawValue,
                failure,
                time.micros,
                id
            )
            try Self.append(audit, to: db)
            return try Self.deletionRequest(id: id, in: db)
        }
    }
}
