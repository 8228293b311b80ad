import ArgumentParser
import Foundation
import IOLogCore
import IOLogTestSupport
import Synchronization
import Testing

@testable import iolog

/// What operators do to a running service: rotate its master key, configure it from the
/// environment, stop it.
@Suite("Operations: key rotation, configuration, shutdown")
struct OperationsTests {
    /// org_live (opted in, admin alice) and `keys` more accounts with a data key each, all under
    /// `old`; returns a gateway token and alice's token.
    func prepare(_ scratch: Scratch, old: MasterKey, keys: Int) async throws -> (gateway: String, admin: String) {
        try await TestStorage.with(DataFolder(path: scratch.dataDir)) { engine in
            let directory = AccountDirectory(store: engine.store)
            _ = try await directory.upsertAccount(id: "org_live", kind: .organization, name: nil, actor: "test")
            _ = try await engine.store.setIOLogging(accountID: "org_live", enabled: true, at: Timestamp(micros: 0), audit: nil)
            try await directory.setRole(accountID: "org_live", userID: "alice", role: .admin, actor: "test")
            let keyring = try await DataKeyring.open(keys: engine.keys, masterKey: old)
            for index in 0..<keys { _ = try await keyring.currentKey(for: "org_\(index)") }
            let tokens = TokenService(store: engine.store)
            return (
                try await tokens.create(kind: .gateway, actor: "test").token,
                try await tokens.create(kind: .user, userID: "alice", actor: "test").token
            )
        }
    }

    /// In every body posted here; no process's output may contain it.
    static let bodyMarker = "OPERATIONS-BODY-MARKER-5c2e"

    /// Fails if `output` holds a body or the secret part of a token.
    static func expectNothingSecret(in output: String, tokens: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!output.isEmpty, sourceLocation: sourceLocation)
        #expect(!output.contains(bodyMarker), "a body reached the output", sourceLocation: sourceLocation)
        for token in tokens {
            #expect(
                !output.contains(String(token.split(separator: "_").last ?? "")),
                "a token secret reached the output",
                sourceLocation: sourceLocation
            )
        }
    }

    static func generation(_ id: String) throws -> Data {
        try JSONSerialization.data(
            withJSONObject: [
                "id": id, "account_id": "org_live", "created_at": "2026-11-20T10:00:00Z", "model": "m", "provider": "p",
                "prompt": [["role": "user", "content": "\(bodyMarker) prompt of \(id)"]],
                "completion": ["role": "assistant", "content": "\(bodyMarker) answer"],
            ] as [String: Any]
        )
    }

    func keyringState(_ scratch: Scratch, new: MasterKey) async throws -> (state: MasterKeyState?, notUnderNew: Int) {
        try await TestStorage.with(DataFolder(path: scratch.dataDir)) { engine in
            (try await engine.keys.masterKeyState(), try await engine.keys.keyCount(notWrappedBy: new.id))
        }
    }

    @Test("keys rotate-master: killed midway while serve runs with both keys, run again, ends with everything under the new key")
    func rotationKilledAndResumed() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let (oldFile, newFile) = (scratch.path + "/old.key", scratch.path + "/new.key")
        let old = try MasterKey.createFile(at: oldFile)
        let new = try MasterKey.createFile(at: newFile)
        let keys = 300
        let (gateway, admin) = try await prepare(scratch, old: old, keys: keys)

        // The rollout: serve holds both keys before the rotation starts.
        let serve = try await ServeProcess.start(scratch, ["--master-key-file", newFile, "--previous-master-key-file", oldFile])
        defer { if serve.process.isRunning { serve.process.terminate() } }
        #expect(try await serve.request("/v1/generations", method: "POST", token: gateway, body: Self.generation("gen-before")).status == 201)

        // The first run is killed once it has rewrapped some keys.
        let progress = scratch.path + "/rotate.err"
        let rotate = ["keys", "rotate-master", "--master-key-file", oldFile, "--new-master-key-file", newFile, "--data-dir", scratch.dataDir]
        let first = try await binaryProcess(rotate + ["--batch-size", "1"], standardOutput: "/dev/null", standardError: progress)
        for _ in 0..<1_500 where first.isRunning {
            if ((try? String(contentsOfFile: progress, encoding: .utf8)) ?? "").contains("rewrapped") { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        kill(first.processIdentifier, SIGKILL)
        await first.exited()
        #expect(first.endedBySignal, "the rotation finished before it could be killed")
        let midway = try await keyringState(scratch, new: new)
        #expect(midway.state?.keyID == old.id && midway.state?.nextKeyID == new.id)
        #expect((1...keys + 1).contains(midway.notUnderNew))
        // Serve goes on storing and reading meanwhile.
        #expect(try await serve.request("/v1/generations", method: "POST", token: gateway, body: Self.generation("gen-during")).status == 201)
        #expect(try await serve.request("/v1/accounts/org_live/generations/gen-before", token: admin).status == 200)

        // Run again: it resumes and ends.
        let started = ContinuousClock.now
        let second = try await runBinary(rotate)
        print(
            "rotate-master resumed over \(midway.notUnderNew) of \(keys + 1) data keys in \(ContinuousClock.now - started): \(second.standardOutput)"
        )
        #expect(second.status == 0, "\(second.standardError)")
        #expect(second.standardOutput.contains("the keyring is now under master key \(new.id)"))
        let after = try await keyringState(scratch, new: new)
        #expect(after.state?.keyID == new.id && after.state?.nextKeyID == nil && after.notUnderNew == 0)
        #expect(try await runBinary(rotate).standardOutput.contains("already under master key \(new.id)"))
        #expect(try await serve.request("/v1/generations", method: "POST", token: gateway, body: Self.generation("gen-after")).status == 201)
        serve.process.terminate()
        await serve.process.exited()
        #expect(serve.process.terminationStatus == 0)

        // The new key alone opens everything written before, during and after; the old one nothing.
        let newOnly = try await ServeProcess.start(scratch, ["--master-key-file", newFile], name: "serve-new")
        defer { if newOnly.process.isRunning { newOnly.process.terminate() } }
        for id in ["gen-before", "gen-during", "gen-after"] {
            #expect(try await newOnly.request("/v1/accounts/org_live/generations/\(id)", token: admin).status == 200)
        }
        let oldOnly = try await runBinary(["serve", "--data-dir", scratch.dataDir, "--port", "0", "--master-key-file", oldFile])
        #expect(oldOnly.status == 1)
        #expect(oldOnly.standardError.contains("does not match the keyring"), "\(oldOnly.standardError)")
        #expect(oldOnly.standardError.contains(new.id))
        newOnly.process.terminate()
        await newOnly.process.exited()
        let everything =
            [serve.output, newOnly.output, second.standardOutput + second.standardError, oldOnly.standardError]
            + [(try? String(contentsOfFile: progress, encoding: .utf8)) ?? ""]
        Self.expectNothingSecret(in: everything.joined(separator: "\n"), tokens: [gateway, admin])
    }

    /// `scripts/bench-key-rotation` sets IOLOG_BENCH_ROTATION_KEYS and reads the printed time.
    @Test(
        "keys rotate-master over a large keyring, timed",
        .enabled(if: ProcessInfo.processInfo.environment["IOLOG_BENCH_ROTATION_KEYS"] != nil, "a benchmark: scripts/bench-key-rotation")
    )
    func largeKeyringRotation() async throws {
        let keys = try #require(ProcessInfo.processInfo.environment["IOLOG_BENCH_ROTATION_KEYS"].flatMap(Int.init))
        let scratch = try Scratch()
        defer { scratch.remove() }
        let (oldFile, newFile) = (scratch.path + "/old.key", scratch.path + "/new.key")
        let old = try MasterKey.createFile(at: oldFile)
        let new = try MasterKey.createFile(at: newFile)
        _ = try await prepare(scratch, old: old, keys: keys)
        let started = ContinuousClock.now
        let run = try await runBinary([
            "keys", "rotate-master", "--master-key-file", oldFile, "--new-master-key-file", newFile, "--data-dir", scratch.dataDir,
        ])
        let elapsed = ContinuousClock.now - started
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.standardOutput.contains("rewrapped \(keys) data keys"))
        #expect(try await keyringState(scratch, new: new).notUnderNew == 0)
        print("BENCH key rotation: \(keys) data keys, \(TestStorage.isPostgres ? "PostgreSQL" : "SQLite"), process wall time \(elapsed)")
        print("BENCH \(run.standardOutput.split(separator: "\n").first ?? "")")
        print("BENCH progress lines on standard error: \(run.standardError.split(separator: "\n").count)")
    }

    @Test("SIGTERM: requests in flight are answered and committed, nothing acknowledged is lost, exit 0 within the bound")
    func gracefulShutdown() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let keyFile = scratch.path + "/master.key"
        let key = try MasterKey.createFile(at: keyFile)
        let (gateway, _) = try await prepare(scratch, old: key, keys: 0)
        let serve = try await ServeProcess.start(
            scratch,
            [],
            environment: ["IOLOG_MASTER_KEY_FILE": keyFile, "IOLOG_SHUTDOWN_TIMEOUT_SECONDS": "10", "IOLOG_LOG_FORMAT": "json"]
        )
        defer { if serve.process.isRunning { serve.process.terminate() } }

        final class Tally: Sendable {
            let acknowledged = Mutex<[String]>([])
            let answered = Mutex(0)
            let stopping = Mutex<ContinuousClock.Instant?>(nil)
        }
        let tally = Tally()
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<400 {
                group.addTask {
                    let id = "gen-stop-\(index)"
                    guard let body = try? Self.generation(id),
                        let (status, _) = try? await serve.request("/v1/generations", method: "POST", token: gateway, body: body)
                    else { return }
                    if status == 201 { tally.acknowledged.withLock { $0.append(id) } }
                    let answered = tally.answered.withLock { count in
                        count += 1
                        return count
                    }
                    if answered == 50 {
                        tally.stopping.withLock { $0 = .now }
                        serve.process.terminate()
                    }
                }
            }
        }
        await serve.process.exited()
        let stoppedAfter = try #require(tally.stopping.withLock { $0 }).duration(to: .now)
        #expect(serve.process.terminationStatus == 0, "\(serve.errors)")
        #expect(stoppedAfter < .seconds(15))
        let ids = tally.acknowledged.withLock { $0 }
        #expect(ids.count >= 50)
        let stored = try await TestStorage.with(DataFolder(path: scratch.dataDir)) { engine in
            Set(try await TestSQL.rows(engine, "SELECT id FROM generations WHERE id LIKE 'gen-stop-%'").map { $0[0] })
        }
        #expect(Set(ids).isSubset(of: stored), "acknowledged but not stored: \(Set(ids).subtracting(stored).sorted().prefix(5))")

        // The log is JSON lines: the effective configuration first, with where each value came from.
        let lines = serve.errors.split(separator: "\n").map(String.init)
        let objects = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(
            objects.count == lines.count,
            "lines that are not JSON: \(lines.filter { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) == nil })"
        )
        let configuration = try #require(objects.first { $0["message"] as? String == "configuration" })
        #expect(configuration["shutdown-timeout-seconds"] as? String == "10 (env)")
        #expect(configuration["log-format"] as? String == "json (env)")
        #expect(configuration["port"] as? String == "\(serve.port) (flag)")
        #expect(configuration["max-body-bytes"] as? String == "\(16 * 1024 * 1024) (default)")
        #expect((configuration["master-key"] as? String)?.contains("id \(key.id) from file") == true)
        #expect(objects.last?["message"] as? String == "stopped")
        Self.expectNothingSecret(in: serve.output, tokens: [gateway])
    }

    @Test("every serve flag also comes from its IOLOG_* variable; the flag wins; a bad variable is named")
    func environmentConfiguration() throws {
        let environment = [
            "IOLOG_HOST": "0.0.0.0", "IOLOG_PORT": "9091", "IOLOG_DEV": "true", "IOLOG_DEMO": "1", "IOLOG_MASTER_KEY_FILE": "/k",
            "IOLOG_PREVIOUS_MASTER_KEY_FILE": "/p", "IOLOG_SKIP_REGION": "us, apac", "IOLOG_MAX_BODY_BYTES": "1000",
            "IOLOG_MAX_BODY_BYTES_IN_FLIGHT": "2000",
            "IOLOG_MAX_CONNECTIONS": "64", "IOLOG_RETENTION_MONTHS": "unlimited", "IOLOG_RETENTION_INTERVAL_SECONDS": "5",
            "IOLOG_DATA_KEY_MAX_SEALS": "1000", "IOLOG_DATA_KEY_MAX_AGE_DAYS": "7", "IOLOG_LOG_FORMAT": "json", "IOLOG_LOG_LEVEL": "debug",
            "IOLOG_SHUTDOWN_TIMEOUT_SECONDS": "12",
        ]
        let fromEnvironment = try ServeConfiguration(try Serve.parse([]), environment: environment)
        #expect(fromEnvironment.resolver.entries.allSatisfy { $0.source == .environment })
        #expect(fromEnvironment.host == "0.0.0.0" && fromEnvironment.port == 9091 && fromEnvironment.dev && fromEnvironment.demo)
        #expect(fromEnvironment.skipRegions == ["us", "apac"] && fromEnvironment.retention.months == nil)
        #expect(fromEnvironment.keyRollover == KeyRolloverPolicy(maximumSeals: 1000, maximumAgeMicros: 7 * 86_400_000_000))
        #expect(fromEnvironment.logFormat == .json && fromEnvironment.logLevel == .debug && fromEnvironment.shutdownTimeout == .seconds(12))
        #expect(fromEnvironment.previousMasterKeyFile == "/p" && fromEnvironment.maxBodyBytes == 1000)
        #expect(fromEnvironment.maxBodyBytesInFlight == 2000)

        // Every flag of serve is resolved here (the data folder and database URL by DataOptions,
        // from IOLOG_DATA_DIR and IOLOG_DATABASE_URL).
        let help = Serve.helpMessage(includeHidden: true)
        let flags = Set(help.matches(of: /--([a-z][a-z-]+)/).map { String($0.output.1) }).subtracting(["help", "data-dir", "database-url"])
        #expect(flags == Set(fromEnvironment.resolver.entries.map(\.name)))
        for flag in flags { #expect(environment[SettingsResolver.variable(flag)] != nil, "--\(flag) has no variable in this test") }

        let flagged = try ServeConfiguration(
            try Serve.parse(["--port", "8081", "--log-level", "error", "--skip-region", "latam"]),
            environment: environment
        )
        #expect(flagged.port == 8081 && flagged.logLevel == .error && flagged.skipRegions == ["latam"])
        #expect(flagged.resolver.entries.first { $0.name == "port" }?.source == .flag)
        #expect(flagged.host == "0.0.0.0")

        for (variable, value) in [("IOLOG_PORT", "eighty"), ("IOLOG_LOG_FORMAT", "xml"), ("IOLOG_DEV", "maybe")] {
            let error = #expect(throws: ValidationError.self) {
                _ = try ServeConfiguration(try Serve.parse([]), environment: [variable: value])
            }
            #expect(error?.message.contains("\(variable)=\(value)") == true)
        }
        #expect(throws: ValidationError.self) { _ = try ServeConfiguration(try Serve.parse([]), environment: ["IOLOG_DATA_KEY_MAX_SEALS": "2"]) }
    }
}
