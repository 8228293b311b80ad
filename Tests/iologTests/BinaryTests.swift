import Foundation
import IOLogCore
import IOLogTestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

@Suite("The iolog binary, end to end")
struct BinaryTests {
    @Test(
        "every command has help",
        arguments: [
            [], ["serve"], ["accounts"], ["accounts", "upsert"], ["members"], ["members", "set"], ["members", "remove"],
            ["tokens"], ["tokens", "create"], ["tokens", "list"], ["tokens", "revoke"], ["audit"], ["audit", "verify"],
            ["deletion"], ["deletion", "request"], ["deletion", "run"], ["deletion", "list"], ["deletion", "show"],
            ["retention"], ["retention", "run"],
        ]
    )
    func helpExplainsEveryCommand(command: [String]) async throws {
        let run = try await runBinary(command + ["--help"])
        #expect(run.status == 0)
        #expect(run.standardOutput.contains("USAGE:"))
        #expect(run.standardOutput.contains("OVERVIEW:") || command.isEmpty == false)
    }

    @Test func tokensCreatePrintsOnlyTheToken() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let run = try await runBinary(["tokens", "create", "--platform", "--data-dir", scratch.dataDir])
        #expect(run.status == 0)
        let lines = run.standardOutput.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(lines.first?.hasPrefix("iolog_pf-") == true)
        let list = try await runBinary(["tokens", "list", "--data-dir", scratch.dataDir])
        #expect(list.standardOutput.contains("platform"))
        #expect(!list.standardOutput.contains(String(lines[0].split(separator: "_").last!)))
    }

    @Test func refusalsAreOneLineOnStandardError() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let run = try await runBinary(["members", "set", "ghost", "u", "--role", "admin", "--data-dir", scratch.dataDir])
        #expect(run.status == 1)
        #expect(run.standardOutput.isEmpty)
        #expect(run.standardError.split(separator: "\n").count == 1)
        #expect(run.standardError.contains("no account ghost"))
    }

    @Test("serve refuses a key file that group or others can read", arguments: [0o644, 0o640, 0o604])
    func serveRefusesExposedKeyFile(mode: Int) async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let keyPath = scratch.path + "/master.key"
        #expect(FileManager.default.createFile(atPath: keyPath, contents: Data((Data(repeating: 9, count: 32).base64EncodedString() + "\n").utf8)))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: keyPath)
        let run = try await runBinary(["serve", "--master-key-file", keyPath, "--data-dir", scratch.dataDir, "--port", "0"])
        #expect(run.status == 1)
        #expect(run.standardError.contains("accessible by group or others"))
        #expect(!run.standardError.contains(Data(repeating: 9, count: 32).base64EncodedString()))
    }

    @Test func serveWithoutAKeyExplainsWhatToDo() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let run = try await runBinary(["serve", "--data-dir", scratch.dataDir, "--port", "0"])
        #expect(run.status == 1)
        #expect(run.standardError.contains("--master-key-file"))
        #expect(run.standardError.contains("IOLOG_MASTER_KEY"))
    }

    /// Starts `iolog serve` with `arguments` on a random port and waits for /healthz.
    func startServe(_ scratch: Scratch, _ arguments: [String]) async throws -> (process: ChildProcess, port: Int, outputPath: String) {
        let port = Int.random(in: 20_000...60_000)
        let outputPath = scratch.path + "/stdout-\(port)"
        #expect(FileManager.default.createFile(atPath: outputPath, contents: nil))
        let process = try binaryProcess(
            ["serve"] + arguments + ["--data-dir", scratch.dataDir, "--port", String(port)],
            standardOutput: outputPath
        )
        var healthy = false
        for _ in 0..<150 where !healthy {
            try await Task.sleep(for: .milliseconds(100))
            if let (data, response) = try? await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/healthz")!) {
                healthy = (response as? HTTPURLResponse)?.statusCode == 200 && String(decoding: data, as: UTF8.self).contains("ok")
            }
        }
        #expect(healthy)
        return (process, port, outputPath)
    }

    @Test func serveDevCreatesKeyAndTokensAndAnswers() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let (process, port, outputPath) = try await startServe(scratch, ["--dev"])
        defer { if process.isRunning { process.terminate() } }
        #expect(try String(contentsOfFile: outputPath, encoding: .utf8).contains("Logs page:      http://127.0.0.1:\(port)/login"))
        let printed = try String(contentsOfFile: outputPath, encoding: .utf8)
        #expect(printed.contains("gateway token:  iolog_gw-"))
        #expect(printed.contains("admin token:    iolog_usr-"))
        let keyMode = try FileManager.default.attributesOfItem(atPath: scratch.dataDir + "/master.key")[.posixPermissions] as? Int
        #expect(keyMode == 0o600)

        // Tokens printed by --dev work for the CLI's view of the same folder while serve runs.
        let list = try await runBinary(["tokens", "list", "--data-dir", scratch.dataDir])
        #expect(list.status == 0)
        #expect(list.standardOutput.contains("demo-admin"))

        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }

    @Test func serveDevDemoSeedsOnceAndOnlyWithDev() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let refused = try await runBinary(["serve", "--demo", "--data-dir", scratch.dataDir])
        #expect(refused.status == 64)
        #expect(refused.standardError.contains("--demo only works together with --dev"))
        for expected in ["\(DemoData.count) demo generations added", "0 demo generations added"] {
            let (process, port, outputPath) = try await startServe(scratch, ["--dev", "--demo"])
            defer { if process.isRunning { process.terminate() } }
            let printed = try String(contentsOfFile: outputPath, encoding: .utf8)
            #expect(printed.contains(expected))
            let admin = try #require(printed.split(separator: "\n").first { $0.contains("admin token:") }?.split(separator: " ").last)
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/accounts/demo-org/generations?limit=200")!)
            request.setValue("Bearer \(admin)", forHTTPHeaderField: "Authorization")
            let (data, _) = try await URLSession.shared.data(for: request)
            let items = try #require((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["data"] as? [[String: Any]])
            #expect(items.count == 200)
            #expect(Set(items.compactMap { $0["model"] as? String }).count >= 5)
            #expect(items.contains { $0["has_reasoning"] as? Bool == true })
            process.terminate()
            process.waitUntilExit()
        }
    }
}
