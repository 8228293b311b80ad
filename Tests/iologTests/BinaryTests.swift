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

    @Test("tokens create --ingest ACCOUNT: only for an existing account, printed alone, listed with its account")
    func ingestTokensFromTheCommandLine() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let missing = try await runBinary(["tokens", "create", "--ingest", "org_a", "--data-dir", scratch.dataDir])
        #expect(missing.status == 1)
        #expect(missing.standardError.contains("no account org_a"))
        for bad in [["--ingest", "a b"], ["--ingest", "org_a", "--gateway"]] {
            #expect(try await runBinary(["tokens", "create"] + bad + ["--data-dir", scratch.dataDir]).status == 64)
        }
        #expect(try await runBinary(["accounts", "upsert", "org_a", "--kind", "organization", "--data-dir", scratch.dataDir]).status == 0)
        let made = try await runBinary(["tokens", "create", "--ingest", "org_a", "--label", "broadcast", "--data-dir", scratch.dataDir])
        #expect(made.status == 0)
        let lines = made.standardOutput.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(lines.first?.hasPrefix("iolog_ing-") == true)
        let list = try await runBinary(["tokens", "list", "--data-dir", scratch.dataDir])
        let row = try #require(list.standardOutput.split(separator: "\n").first { $0.contains("ingest") })
        #expect(row.contains("org_a"))
        #expect(row.contains("broadcast"))
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

    @Test func serveDevCreatesKeyAndTokensAndAnswers() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let serve = try await ServeProcess.start(scratch, ["--dev"])
        let process = serve.process
        defer { if process.isRunning { process.terminate() } }
        let printed = try String(contentsOfFile: serve.outputPath, encoding: .utf8)
        #expect(printed.contains("Logs page:      http://127.0.0.1:\(serve.port)/login"))
        #expect(printed.contains("gateway token:  iolog_gw-"))
        #expect(printed.contains("admin token:    iolog_usr-"))
        let keyMode = try FileManager.default.attributesOfItem(atPath: scratch.dataDir + "/master.key")[.posixPermissions] as? Int
        #expect(keyMode == 0o600)

        // Tokens printed by --dev work for the CLI's view of the same folder while serve runs.
        let list = try await runBinary(["tokens", "list", "--data-dir", scratch.dataDir])
        #expect(list.status == 0)
        #expect(list.standardOutput.contains("demo-admin"))

        process.terminate()
        await process.exited()
        #expect(process.terminationStatus == 0)
    }

    @Test func serveDevDemoSeedsOnceAndOnlyWithDev() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let refused = try await runBinary(["serve", "--demo", "--data-dir", scratch.dataDir])
        #expect(refused.status == 64)
        #expect(refused.standardError.contains("--demo only works together with --dev"))
        for (run, expected) in ["\(DemoData.count) demo generations added", "0 demo generations added"].enumerated() {
            let serve = try await ServeProcess.start(scratch, ["--dev", "--demo"], name: "serve-\(run)")
            let process = serve.process
            defer { if process.isRunning { process.terminate() } }
            let printed = try String(contentsOfFile: serve.outputPath, encoding: .utf8)
            #expect(printed.contains(expected))
            let admin = try #require(printed.split(separator: "\n").first { $0.contains("admin token:") }?.split(separator: " ").last)
            let (status, data) = try await serve.request("/v1/accounts/demo-org/generations?limit=200", token: String(admin))
            #expect(status == 200)
            let items = try #require((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["data"] as? [[String: Any]])
            #expect(items.count == 200)
            #expect(Set(items.compactMap { $0["model"] as? String }).count >= 5)
            #expect(items.contains { $0["has_reasoning"] as? Bool == true })
            process.terminate()
            await process.exited()
        }
    }
}
