/// Owners' deletion requests and the erasure of their scope.
extension PostgresStore {
    static func deletionRequest(id: String, in c: PostgresConnection) throws -> DeletionRequest {
        guard let row = try c.run("SELECT \(RowMapping.deletionColumns) FROM deletion_requests WHERE id = $1", id).first else {
            throw IOLogError.notFound("no deletion request \(id)")
        }
        return RowMapping.deletionRequest(row)
    }

    public func insertDeletionRequest(_ request: DeletionRequest, audit: AuditEvent) async throws {
        let (ids, before, user) = request.scope.columns
        try await pool.transaction { c in
            try c.run(
                """
                INSERT INTO deletion_requests (id, account_id, requested_by, filed_by, ticket, scope, scope_generation_ids,
                    scope_before, status, created_at, scope_user_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
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
            try Self.append(audit, in: c)
        }
    }

    public func deletionRequest(id: String) async throws -> DeletionRequest? {
        try await pool.withConnection { c in
            try c.run("SELECT \(RowMapping.deletionColumns) FROM deletion_requests WHERE id = $1", id).first.map(RowMapping.deletionRequest)
        }
    }

    public func deletionRequests(accountID: String?, status: DeletionStatus?) async throws -> [DeletionRequest] {
        try await pool.withConnection { c in
            try c.run(
                """
                SELECT \(RowMapping.deletionColumns) FROM deletion_requests
                WHERE ($1::text IS NULL OR account_id = $1) AND ($2::text IS NULL OR status = $2)
                ORDER BY created_at DESC, filed_seq DESC
                """,
                accountID,
                status?.rawValue
            ).rows.map(RowMapping.deletionRequest)
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
        try await pool.transaction { c in
            // Updating the account row waits for inserts in flight on any replica (they hold a
            // share lock on it) and is seen by every insert after.
            try c.run(
                """
                UPDATE accounts SET erased_before = CASE WHEN $1::int8 IS NULL THEN erased_before
                                                         ELSE greatest(coalesce(erased_before, $1::int8), $1::int8) END
                WHERE id = (SELECT account_id FROM deletion_requests WHERE id = $2)
                """,
                erasedBefore?.micros,
                id
            )
            try c.run(
                """
                INSERT INTO erased_generation_ids (account_id, id, request_id)
                SELECT r.account_id, j.value, r.id FROM deletion_requests r,
                    jsonb_array_elements_text(r.scope_generation_ids::jsonb) AS j(value)
                WHERE r.id = $1 AND r.scope = 'generations'
                ON CONFLICT (account_id, id) DO NOTHING
                """,
                id
            )
            // A `user` scope's user: nothing of theirs created up to the request is stored
            // again (inserts read this after the account row's lock above orders them).
            try c.run(
                """
                INSERT INTO erased_users (account_id, user_id, erased_before, request_id)
                SELECT account_id, scope_user_id, created_at + 1, id FROM deletion_requests WHERE id = $1 AND scope = 'user'
                ON CONFLICT (account_id, user_id) DO UPDATE SET erased_before = greatest(erased_users.erased_before, excluded.erased_before),
                    request_id = excluded.request_id
                """,
                id
            )
            try c.run(
                """
                UPDATE deletion_requests SET status = 'running', run_by = $1, started_at = coalesce(started_at, $2),
                    finished_at = NULL, failure = NULL
                WHERE id = $3 AND status != 'completed'
                """,
                runBy,
                time.micros,
                id
            )
            try Self.append(audit, in: c)
            return try Self.deletionRequest(id: id, in: c)
        }
    }

    public func recordKeysToDestroy(id: String, count: Int) async throws {
        try await pool.withConnection { c in _ = try c.run("UPDATE deletion_requests SET keys_destroyed = $1 WHERE id = $2", count, id) }
    }

    public func markKeysDestroyed(id: String, at time: Timestamp) async throws -> DeletionRequest {
        try await pool.transaction { c in
            try c.run("UPDATE deletion_requests SET keys_destroyed_at = $1 WHERE id = $2", time.micros, id)
            return try Self.deletionRequest(id: id, in: c)
        }
    }

    public func eraseBatch(request: DeletionRequest, limit: Int) async throws -> Int {
        let doomed: String
        var arguments: [SQLValue] = [.text(request.accountID)]
        switch request.scope {
        case .generations(let ids):
            // By id (ids of other accounts are ignored), through generation_ids' primary key.
            arguments.append(.text(JSONValue.array(ids.map(JSONValue.string)).canonicalText))
            doomed = """
                SELECT id, created_at FROM generation_ids
                WHERE id IN (SELECT jsonb_array_elements_text($2::jsonb)) AND account_id = $1
                """
        case .account:
            arguments.append(.integer(Int64(limit)))
            doomed = "SELECT id, created_at FROM generations WHERE account_id = $1 ORDER BY created_at LIMIT $2"
        case .before(let time):
            arguments.append(.integer(time.micros))
            arguments.append(.integer(Int64(limit)))
            doomed = "SELECT id, created_at FROM generations WHERE account_id = $1 AND created_at < $2 ORDER BY created_at LIMIT $3"
        case .user(let userID):
            arguments.append(.text(userID))
            arguments.append(.integer(Int64(limit)))
            doomed = "SELECT id, created_at FROM generations WHERE account_id = $1 AND user_id = $2 ORDER BY created_at LIMIT $3"
        }
        let sql = """
            WITH doomed AS (\(doomed)), gone AS (
                DELETE FROM generations g USING doomed d WHERE g.id = d.id AND g.created_at = d.created_at RETURNING g.id
            ), forgotten AS (
                DELETE FROM generation_ids WHERE id IN (SELECT id FROM gone)
            )
            SELECT count(*) FROM gone
            """
        return try await pool.transaction { [arguments] c in
            let erased = Int(try c.execute(sql, arguments).first?.int64(0) ?? 0)
            // The receipt's counter moves in the same transaction as the rows it counts.
            try c.run("UPDATE deletion_requests SET rows_erased = rows_erased + $1 WHERE id = $2", erased, request.id)
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
        try await pool.transaction { c in
            try c.run(
                "UPDATE deletion_requests SET status = $1, failure = $2, finished_at = $3 WHERE id = $4",
                status.rawValue,
                failure,
                time.micros,
                id
            )
            try Self.append(audit, in: c)
            return try Self.deletionRequest(id: id, in: c)
        }
    }
}
