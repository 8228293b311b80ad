import ArgumentParser
import Foundation
import Testing

@testable import iolog

/// A fresh folder, removed by `remove()`.
struct Scratch {
    let path = NSTemporaryDirectory() + "iolog-cli-test-" + UUID().uuidString
    var dataDir: String { path + "/data" }

    init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Parses and runs a command in-process, as `iolog` would.
func runInProcess(_ arguments: [String]) async throws {
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

/// Runs the built binary to completion.
func runBinary(_ arguments: [String], environment: [String: String] = [:]) throws -> BinaryRun {
    let process = Process()
    process.executableURL = try iologBinary()
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    env.removeValue(forKey: "IOLOG_MASTER_KEY")
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
