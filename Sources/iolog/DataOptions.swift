import ArgumentParser
import Foundation
import IOLogCore

/// The data folder every command works on.
struct DataOptions: ParsableArguments {
    @Option(
        name: .customLong("data-dir"),
        help: ArgumentHelp("Folder holding the SQLite databases (also IOLOG_DATA_DIR; default ./iolog-data).", valueName: "dir")
    )
    var dataDirectoryFlag: String?

    @Option(
        name: .customLong("database-url"),
        help: ArgumentHelp(
            "PostgreSQL instead of the data folder's SQLite: postgres://user@host:port/db (also IOLOG_DATABASE_URL).",
            valueName: "url"
        )
    )
    var databaseURL: String?

    /// --data-dir, else IOLOG_DATA_DIR, else `./iolog-data`.
    var dataDirectory: String {
        dataDirectoryFlag ?? SettingsResolver(environment: ProcessInfo.processInfo.environment).variableValue("data-dir")
            ?? DataFolder.defaultPath
    }

    var folder: DataFolder { DataFolder(path: dataDirectory) }

    /// Where the data lives: --database-url, else IOLOG_DATABASE_URL, else the data folder.
    var storage: StorageLocation {
        get throws {
            try StorageLocation.choose(databaseURL: databaseURL, environment: ProcessInfo.processInfo.environment, dataFolder: folder)
        }
    }

    /// Opens and migrates the storage engine, runs `body` with it and closes it, also when
    /// `body` throws.
    func withEngine<T>(_ body: (any StorageEngine) async throws -> T) async throws -> T {
        try await storage.withEngine(body)
    }

    /// `withEngine`, for commands that need only the log store.
    func withStore<T>(_ body: (any LogStore) async throws -> T) async throws -> T {
        try await withEngine { engine in try await body(engine.store) }
    }
}

/// Rejects an id that does not fit the contract's alphabet, as a usage error (exit 64).
func validateIdentifier(_ value: String, _ what: String) throws {
    guard Identifier.isValid(value) else {
        throw ValidationError("\(what) must be 1–\(Identifier.maxLength) characters of A-Z a-z 0-9 . _ : -")
    }
}

/// Who runs a command, for audit events (`CLIActor`).
var cliActor: String {
    CLIActor.current(environment: ProcessInfo.processInfo.environment, loginUID: CLIActor.loginUID())
}

/// The audit actor of a command run on the server: `cli:` and the account name of the process's
/// real user id, which the environment cannot fake (`$USER` can). Commands usually run as the
/// service's own user (it owns the 0700 data folder), so the person behind it is added from the
/// kernel's login uid (`/proc/self/loginuid`, set at login and kept across sudo and su; a process
/// that is not root cannot change it). Only where the kernel has none is `SUDO_USER` added, and
/// marked as what it is: a claim of the environment.
enum CLIActor {
    static func current(environment: [String: String], loginUID: uid_t?) -> String {
        let uid = getuid()
        var actor = "cli:" + name(of: uid)
        if let loginUID, loginUID != uid {
            actor += " (login \(name(of: loginUID)))"
        } else if loginUID == nil, let sudoUser = environment["SUDO_USER"], !sudoUser.isEmpty,
            sudoUser.utf8.count <= 64, sudoUser.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        {
            actor += " (SUDO_USER \(sudoUser), unverified)"
        }
        return actor
    }

    /// The kernel's login uid of this process; nil where it is unset (no login session, as in
    /// many containers) or unreadable.
    static func loginUID(path: String = "/proc/self/loginuid") -> uid_t? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
            let value = UInt32(text.trimmingCharacters(in: .whitespacesAndNewlines)), value != UInt32.max
        else { return nil }
        return value
    }

    private static func name(of uid: uid_t) -> String {
        getpwuid(uid).flatMap { entry in entry.pointee.pw_name.map { String(cString: $0) } } ?? "uid \(uid)"
    }
}

extension AccountKind: ExpressibleByArgument {}
extension Role: ExpressibleByArgument {}
