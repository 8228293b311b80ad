import Foundation
import IOLogTestSupport
import Testing

@testable import IOLogCore

/// What only the PostgreSQL engine has: roles, month partitions.
@Suite("PostgreSQL engine", .enabled(if: TestStorage.isPostgres, "needs the PostgreSQL server of the suite's PostgreSQL run"))
struct PostgresEngineTests {
    @Test("a role that does not own the tables is refused at start: erasure could not vacuum them")
    func aRoleThatDoesNotOwnTheTablesIsRefused() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let engine = try await folder.dataFolder.openEngine()
        guard let url = (engine as? PostgresEngine)?.url, let slash = url.range(of: "://"), let at = url.firstIndex(of: "@") else {
            Issue.record("not a PostgreSQL engine")
            return
        }
        let role = "reader_" + String(UInt32.random(in: 0...UInt32.max), radix: 36)
        _ = try await TestSQL.rows(engine, "CREATE ROLE \(role) LOGIN")
        _ = try await TestSQL.rows(engine, "GRANT USAGE ON SCHEMA iolog, iolog_keyring TO \(role)")
        _ = try await TestSQL.rows(engine, "GRANT ALL ON ALL TABLES IN SCHEMA iolog, iolog_keyring TO \(role)")
        await engine.close()
        let other = PostgresEngine(url: String(url[..<slash.upperBound]) + role + String(url[at...]), connections: 2)
        let error = await #expect(throws: IOLogError.self) { try await other.migrate() }
        #expect(error?.code == .refused)
        #expect(error?.message.contains("does not own") == true)
        await other.close()
    }

    @Test("month arithmetic: every month starts where the one before ends, names round-trip")
    func monthPartitions() {
        for month in stride(from: -30, through: 1200, by: 7) {
            #expect(MonthPartition.end(of: month) == MonthPartition.start(of: month + 1))
            #expect(MonthPartition.month(ofMicros: MonthPartition.start(of: month)) == month)
            #expect(MonthPartition.month(ofMicros: MonthPartition.end(of: month) - 1) == month)
            if month >= 0 { #expect(MonthPartition.month(ofTable: MonthPartition.tableName(month)) == month) }
        }
        #expect(MonthPartition.tableName(MonthPartition.month(ofMicros: 1_795_000_000_000_000)) == "generations_p202611")
    }
}
