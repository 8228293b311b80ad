import Foundation
import IOLogCore
import IOLogTestSupport
import Testing

@Suite("iolog audit verify")
struct AuditVerifyTests {
    /// A data folder with five audit events (token creations and revocations by the CLI).
    private func folderWithEvents() async throws -> Scratch {
        let scratch = try Scratch()
        var ids: [String] = []
        for _ in 0..<3 {
            let run = try await runBinary(["tokens", "create", "--gateway", "--data-dir", scratch.dataDir])
            #expect(run.status == 0)
            ids.append(String(run.standardOutput.dropFirst("iolog_".count).split(separator: "_")[0]))
        }
        for id in ids.prefix(2) {
            #expect(try await runBinary(["tokens", "revoke", id, "--data-dir", scratch.dataDir]).status == 0)
        }
        return scratch
    }

    private func tamper(_ scratch: Scratch, _ sql: String) async throws {
        try await TestStorage.with(DataFolder(path: scratch.dataDir)) { engine in _ = try await TestSQL.rows(engine, sql) }
    }

    @Test func anIntactTrailVerifies() async throws {
        let scratch = try await folderWithEvents()
        defer { scratch.remove() }
        let run = try await runBinary(["audit", "verify", "--data-dir", scratch.dataDir])
        #expect(run.status == 0)
        #expect(run.standardOutput.hasPrefix("audit trail intact: 5 rows, last hash "))
    }

    @Test(
        "tampering is detected and the row named",
        arguments: [
            ("UPDATE audit_events SET action = 'token.create' WHERE seq = 4", "row 4 was edited"),
            ("UPDATE audit_events SET actor = 'cli:someone-else' WHERE seq = 1", "row 1 was edited"),
            ("DELETE FROM audit_events WHERE seq = 3", "row 3 is missing"),
            ("DELETE FROM audit_events WHERE seq IN (2, 3)", "rows 2–3 are missing"),
            ("DELETE FROM audit_events WHERE seq = 5", "row 5 and later were removed"),
            ("UPDATE audit_events SET previous_hash = (SELECT hash FROM audit_events WHERE seq = 4) WHERE seq = 2", "row 2 does not link"),
        ]
    )
    func tamperingIsDetected(sql: String, expected: String) async throws {
        let scratch = try await folderWithEvents()
        defer { scratch.remove() }
        try await tamper(scratch, sql)
        let run = try await runBinary(["audit", "verify", "--data-dir", scratch.dataDir])
        #expect(run.status == 1)
        #expect(run.standardError.contains(expected), "\(run.standardError)")
        #expect(run.standardError.split(separator: "\n").count == 1)
    }
}
