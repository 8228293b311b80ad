import ArgumentParser
import Foundation
import IOLogCore

/// The data folder every command works on.
struct DataOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "Folder holding the SQLite databases.")
    var dataDirectory: String = DataFolder.defaultPath

    var folder: DataFolder { DataFolder(path: dataDirectory) }

    /// Opens the log database, runs `body` with it and closes it, also when `body` throws.
    func withStore<T>(_ body: (SQLiteStore) async throws -> T) async throws -> T {
        try await folder.openStore().withClose(body)
    }
}

/// Rejects an id that does not fit the contract's alphabet, as a usage error (exit 64).
func validateIdentifier(_ value: String, _ what: String) throws {
    guard Identifier.isValid(value) else {
        throw ValidationError("\(what) must be 1–\(Identifier.maxLength) characters of A-Z a-z 0-9 . _ : -")
    }
}

/// Who runs a command, for audit events: the operating-system user on the server.
var cliActor: String {
    "cli:" + (ProcessInfo.processInfo.environment["SUDO_USER"] ?? ProcessInfo.processInfo.environment["USER"] ?? "unknown")
}

extension AccountKind: ExpressibleByArgument {}
extension Role: ExpressibleByArgument {}
