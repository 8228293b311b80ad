import ArgumentParser
import Foundation
import IOLogCore
import IOLogTestSupport
import Synchronization
import Testing

@testable import iolog

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

#if canImport(Glibc)
import Glibc
#endif

/// A fresh folder, removed by `remove()`.
struct Scratch {
    let path = NSTemporaryDirectory() + "iolog-cli-test-" + UUID().uuidString
    var dataDir: String { path + "/data" }

    init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// The PostgreSQL database of the data folder a command names with `--data-dir`, in a run of
/// the suite against PostgreSQL (`TestStorage`); nil on SQLite.
func databaseURL(for arguments: [String]) async throws -> String? {
    guard TestStorage.isPostgres, let flag = arguments.firstIndex(of: "--data-dir"), flag + 1 < arguments.count else { return nil }
    guard case .postgres(let url, _) = try await TestStorage.location(for: DataFolder(path: arguments[flag + 1])) else { return nil }
    return url
}

/// Parses and runs a command in-process, as `iolog` would (with `--database-url` in a
/// PostgreSQL run).
func runInProcess(_ arguments: [String]) async throws {
    let arguments = try await arguments + (databaseURL(for: arguments).map { ["--database-url", $0] } ?? [])
    var command = try IOLog.parseAsRoot(arguments)
    if var asyncCommand = command as? any AsyncParsableCommand {
        try await asyncCommand.run()
    } else {
        try command.run()
    }
}

/// The exit code `iolog` would give for `arguments`, run in-process.
func exitCodeInProcess(_ arguments: [String]) async -> Int32 {
    do {
        try await runInProcess(arguments)
        return 0
    } catch {
        return IOLog.exitCode(for: error).rawValue
    }
}

/// The output of a run of the built `iolog` binary.
struct BinaryRun {
    let status: Int32
    let standardOutput: String
    let standardError: String
}

/// Ports this process has handed out, so two tests never get the same one.
private let handedOutPorts = Mutex<Set<Int>>([])

/// A port for a server under test that nothing on this machine listens on, picked below the
/// kernel's ephemeral range: a port picked inside it can be taken meanwhile by any outgoing
/// connection, or by a test server that asked for port 0 (a server refusing to start then
/// looks like one that is slow to start).
func freePort() throws -> Int {
    let range = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))?
        .split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
    let ephemeralStart = range?.first ?? 32_768
    for _ in 0..<200 {
        let port = Int.random(in: 10_000..<max(ephemeralStart, 10_001))
        guard handedOutPorts.withLock({ $0.insert(port).inserted }) else { continue }
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { continue }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if bound == 0 { return port }
    }
    Issue.record("no free port below \(ephemeralStart)")
    throw CancellationError()
}

/// The `iolog` executable that `swift build` put next to the test bundle.
func iologBinary() throws -> URL {
    let candidates = [
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("iolog"),
        URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../.build/debug/iolog").standardized,
    ]
    guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
        Issue.record("the iolog binary is not built; run `swift build` first (scripts/test does)")
        throw CancellationError()
    }
    return found
}

/// Starts the built binary with `arguments`, its environment as `runBinary` sets it (plus
/// `environment`); standard output and error go to those files, or to /dev/null.
func binaryProcess(
    _ arguments: [String],
    environment: [String: String] = [:],
    standardOutput: String? = nil,
    standardError: String? = nil
) async throws -> ChildProcess {
    var env = ProcessInfo.processInfo.environment
    env.removeValue(forKey: "IOLOG_MASTER_KEY")
    // A PostgreSQL run reaches the database through the environment variable.
    if let url = try await databaseURL(for: arguments) { env[StorageLocation.databaseURLVariable] = url }
    return try ChildProcess(
        executable: try iologBinary().path,
        arguments: arguments,
        environment: env.merging(environment) { $1 },
        standardOutput: standardOutput,
        standardError: standardError
    )
}

/// Runs the built binary to completion.
func runBinary(_ arguments: [String], environment: [String: String] = [:]) async throws -> BinaryRun {
    let outputs = NSTemporaryDirectory() + "iolog-run-" + UUID().uuidString
    defer {
        try? FileManager.default.removeItem(atPath: outputs + ".out")
        try? FileManager.default.removeItem(atPath: outputs + ".err")
    }
    let process = try await binaryProcess(arguments, environment: environment, standardOutput: outputs + ".out", standardError: outputs + ".err")
    await process.exited()
    return BinaryRun(
        status: process.terminationStatus,
        standardOutput: (try? String(contentsOfFile: outputs + ".out", encoding: .utf8)) ?? "",
        standardError: (try? String(contentsOfFile: outputs + ".err", encoding: .utf8)) ?? ""
    )
}

/// An `iolog serve` child process on a random port, its output in files of the scratch folder.
struct ServeProcess: @unchecked Sendable {
    let process: ChildProcess
    let port: Int
    let errorPath: String
    let outputPath: String

    /// Starts `serve --data-dir … --port …` plus `arguments` and waits until /healthz answers.
    static func start(
        _ scratch: Scratch,
        _ arguments: [String],
        environment: [String: String] = [:],
        name: String = "serve"
    ) async throws -> ServeProcess {
        let port = try freePort()
        let errorPath = scratch.path + "/\(name).err"
        let outputPath = scratch.path + "/\(name).out"
        #expect(FileManager.default.createFile(atPath: errorPath, contents: nil))
        let process = try await binaryProcess(
            ["serve", "--data-dir", scratch.dataDir, "--port", String(port)] + arguments,
            environment: environment,
            standardOutput: outputPath,
            standardError: errorPath
        )
        let served = ServeProcess(process: process, port: port, errorPath: errorPath, outputPath: outputPath)
        try await served.waitUntilHealthy(name: name)
        return served
    }

    /// Waits until /healthz answers 200 (up to 20 s), or the process has ended.
    func waitUntilHealthy(name: String = "serve") async throws {
        var healthy = false
        for _ in 0..<200 where !healthy && process.isRunning {
            try await Task.sleep(for: .milliseconds(100))
            healthy = (try? await request("/healthz").status) == 200
        }
        #expect(healthy, "\(name) did not start: \(errors)")
    }

    /// What the process wrote on standard error so far.
    var errors: String { (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "" }

    /// Everything it wrote, both streams.
    var output: String { ((try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "") + errors }

    /// One request; the status and the body.
    func request(_ path: String, method: String = "GET", token: String? = nil, body: Data? = nil) async throws -> (status: Int, body: Data) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let body {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = body
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }
}
