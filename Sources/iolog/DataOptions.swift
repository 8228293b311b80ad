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

/// Who runs a command, for audit events: `cli:` and the account name of the process's real
/// user id, which the environment cannot fake (`$USER` can). Under sudo, `SUDO_USER` is added
/// as a detail only: it is set by whoever starts the process.
var cliActor: String {
    CLIActor.current(environment: ProcessInfo.processInfo.environment)
}

enum CLIActor {
    static func current(environment: [String: String]) -> String {
        let uid = getuid()
        let name = getpwuid(uid).flatMap { entry in entry.pointee.pw_name.map { String(cString: $0) } } ?? "uid \(uid)"
        var actor = "cli:" + name
        if let sudoUser = environment["SUDO_USER"], !sudoUser.isEmpty, sudoUser != name,
            sudoUser.utf8.count <= 64, sudoUser.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        {
            actor += " (sudo from \(sudoUser))"
        }
        return actor
    }
}

extension AccountKind: ExpressibleByArgument {}
extension Role: ExpressibleByArgument {}
