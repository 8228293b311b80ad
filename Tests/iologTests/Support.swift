import ArgumentParser
import Foundation
import IOLogCore
import IOLogTestSupport
import Testing

@testable import iolog

/// A fresh folder, removed by `remove()`.
struct Scratch {
    let path = NSTemporaryDirectory() + "iolog-cli-test-" + UUID().uuidString
    var dataDir: String { path + "/data" }

    init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// The PostgreSQL database of the data folder a command names with `--data-dir`, in a run of
/// the suite against PostgreSQL (`TestStorage`); nil on SQLite.
func databaseURL(for arguments: [String]) throws -> String? {
    guard TestStorage.isPostgres, let flag = arguments.firstIndex(of: "--data-dir"), flag + 1 < arguments.count else { return nil }
    guard case .postgres(let url, _) = try TestStorage.locationBlocking(for: DataFolder(path: arguments[flag + 1])) else { return nil }
    return url
}

/// Parses and runs a command in-process, as `iolog` would (with `--database-url` in a
/// PostgreSQL run).
func runInProcess(_ arguments: [String]) async throws {
    let arguments = try arguments + (databaseURL(for: arguments).map { ["--database-url", $0] } ?? [])
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

/// A process of the built binary with `arguments`, its environment as `runBinary` sets it.
func binaryProcess(_ arguments: [String]) throws -> Process {
    let process = Process()
    process.executableURL = try iologBinary()
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    env.removeValue(forKey: "IOLOG_MASTER_KEY")
    if let url = try databaseURL(for: arguments) { env[StorageLocation.databaseURLVariable] = url }
    process.environment = env
    return process
}

/// Runs the built binary to completion.
func runBinary(_ arguments: [String], environment: [String: String] = [:]) throws -> BinaryRun {
    let process = Process()
    process.executableURL = try iologBinary()
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    env.removeValue(forKey: "IOLOG_MASTER_KEY")
    // A PostgreSQL run reaches the database through the environment variable.
    if let url = try databaseURL(for: arguments) { env[StorageLocation.databaseURLVariable] = url }
    process.environment = env.merging(environment) { $1 }
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let outputData = output.fileHandleForReading.readDataToEndOfFile()
    let errorData = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return BinaryRun(
        status: process.terminationStatus,
        standardOutput: String(decoding: outputData, as: UTF8.self),
        standardError: String(decoding: errorData, as: UTF8.self)
    )
}
