import IOLogTestSupport
import Testing

@testable import IOLogCore

@Suite("List query plans")
struct ListQueryPlanTests {
    struct Combination: Sendable, CustomTestStringConvertible {
        let filter: GenerationFilter
        let cursor: ListCursor?
        var testDescription: String {
            var parts: [String] = []
            if filter.model != nil { parts.append("model") }
            if filter.provider != nil { parts.append("provider") }
            if filter.userID != nil { parts.append("user") }
            if filter.sessionID != nil { parts.append("session") }
            if filter.from != nil { parts.append("from") }
            if filter.to != nil { parts.append("to") }
            if cursor != nil { parts.append("cursor") }
            return parts.isEmpty ? "no filter" : parts.joined(separator: "+")
        }
    }

    /// Every combination of the filters the Logs page offers, with and without a cursor.
    static let combinations: [Combination] = {
        var all: [Combination] = []
        for mask in 0..<(1 << 7) {
            let filter = GenerationFilter(
                model: mask & 1 != 0 ? "openai/gpt-4o" : nil,
                provider: mask & 2 != 0 ? "OpenAI" : nil,
                userID: mask & 4 != 0 ? "user_42" : nil,
                sessionID: mask & 64 != 0 ? "chat-7" : nil,
                from: mask & 8 != 0 ? Timestamp(micros: 1_000) : nil,
                to: mask & 16 != 0 ? Timestamp(micros: 9_000_000) : nil
            )
            all.append(Combination(filter: filter, cursor: mask & 32 != 0 ? ListCursor(createdAt: Timestamp(micros: 5_000), id: "g") : nil))
        }
        return all
    }()

    @Test("uses an index and needs no sort", arguments: combinations)
    func planSearchesAnIndexInOrder(_ combination: Combination) async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        // SQLite's planner, whichever engine the run is for: the query is SQLite's own.
        let storeEngine = try SQLiteEngine(folder: folder.dataFolder)
        try await storeEngine.migrate()
        let store = storeEngine.sqliteStore
        let (sql, arguments) = SQLiteStore.listQuery(
            columns: SQLiteStore.summaryColumns,
            accountID: "org_acme",
            filter: combination.filter,
            after: combination.cursor,
            limit: 51
        )
        let plan = try await store.withDatabase { db in
            let statement = try db.prepare("EXPLAIN QUERY PLAN " + sql)
            try statement.bind(arguments)
            var lines: [String] = []
            while try statement.step() { lines.append(Row(statement: statement).text(3)) }
            return lines
        }
        await storeEngine.close()
        let text = plan.joined(separator: "\n")
        #expect(
            text.contains("SEARCH generations USING INDEX generations_by_")
                || text.contains("SEARCH generations USING COVERING INDEX generations_by_"),
            "\(text)"
        )
        #expect(!text.contains("SCAN"), "\(text)")
        #expect(!text.contains("TEMP B-TREE"), "\(text)")
    }

    @Test func cursorsRoundTripAndRejectForgeries() {
        let cursor = ListCursor(createdAt: Timestamp(micros: 1_763_794_800_123_000), id: "gen-01JD3X4K7Q")
        #expect(ListCursor(token: cursor.token) == cursor)
        #expect(!cursor.token.contains("="))
        for forged in ["", "abc", "djE6MTIzOmJhZCBpZA", cursor.token + "!!", String(repeating: "A", count: 300)] {
            #expect(ListCursor(token: forged) == nil, "accepted \(forged)")
        }
    }
}
