import Foundation
import IOLogCore
import IOLogTestSupport
import Synchronization
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

@Suite("Durability of acknowledged ingests")
struct CrashTests {
    /// Posts generations concurrently to a real `iolog serve`, kills it with SIGKILL once some
    /// are acknowledged (others still in flight), then opens the data folder: every
    /// acknowledged generation must be there.
    @Test func sigkillLosesNothingAcknowledged() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let port = try freePort()
        let outputPath = scratch.path + "/stdout"
        #expect(FileManager.default.createFile(atPath: outputPath, contents: nil))
        let server = try await binaryProcess(["serve", "--dev", "--data-dir", scratch.dataDir, "--port", String(port)], standardOutput: outputPath)
        defer { if server.isRunning { server.terminate() } }

        var token: String?
        for _ in 0..<100 where token == nil {
            try await Task.sleep(for: .milliseconds(100))
            let printed = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            token = printed.split(separator: "\n").first { $0.contains("gateway token:") }
                .map { String($0.split(separator: " ").last!) }
        }
        let gatewayToken = try #require(token)
        // Ahead of the opt-in moment --dev recorded, and within the five minutes of allowed skew.
        let createdAt = Timestamp(Date().addingTimeInterval(60)).rfc3339

        let acknowledged = AcknowledgedIDs()
        let serverID = server.processIdentifier
        let total = 400
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<total {
                group.addTask {
                    let id = "gen-crash-\(index)"
                    var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/generations")!)
                    request.httpMethod = "POST"
                    request.setValue("Bearer \(gatewayToken)", forHTTPHeaderField: "Authorization")
                    request.setValue("application/json", forHTTPHeaderField: "Content-Type")
                    request.httpBody = Data(
                        """
                        {"id":"\(id)","account_id":"demo-org","created_at":"\(createdAt)","model":"m","provider":"p",
                         "prompt":"crash test prompt \(index)","completion":"crash test completion"}
                        """.utf8
                    )
                    guard let (_, response) = try? await URLSession.shared.data(for: request),
                        (response as? HTTPURLResponse)?.statusCode == 201
                    else { return }
                    acknowledged.append(id)
                }
            }
            group.addTask {
                while acknowledged.ids.count < 40 { try? await Task.sleep(for: .milliseconds(2)) }
                kill(serverID, SIGKILL)
            }
        }
        await server.exited()
        #expect(server.endedBySignal)

        let acked = Set(acknowledged.ids)
        let storeEngine = try await DataFolder(path: scratch.dataDir).openEngine()
        let present = Set(try await TestSQL.rows(storeEngine, "SELECT id FROM generations WHERE id LIKE 'gen-crash-%'").map { $0[0] })
        await storeEngine.close()
        print("sigkill test: \(acked.count) of \(total) acknowledged before the kill, \(present.count) rows present")
        #expect(acked.count >= 40)
        #expect(acked.isSubset(of: present), "lost after SIGKILL: \(acked.subtracting(present).sorted().prefix(5))")
    }
}

/// Ids answered `stored`, shared between the posting tasks.
private final class AcknowledgedIDs: Sendable {
    private let storage = Mutex<[String]>([])

    var ids: [String] { storage.withLock { $0 } }

    func append(_ id: String) { storage.withLock { $0.append(id) } }
}
