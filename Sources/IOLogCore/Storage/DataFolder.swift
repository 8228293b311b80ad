import Foundation

/// The folder that holds an embedded deployment's files.
///
/// * `iolog.sqlite` (+ `-wal`, `-shm`): the log database.
/// * `keyring.sqlite` (+ `-wal`, `-shm`): the wrapped data keys, apart from the data.
/// * `master.key`: only in development (`serve --dev`), mode 0600.
public struct DataFolder: Sendable {
    /// The default, relative to the working directory.
    public static let defaultPath = "./iolog-data"

    public let path: String

    public init(path: String) { self.path = path }

    public var logDatabasePath: String { path + "/iolog.sqlite" }
    public var keyringPath: String { path + "/keyring.sqlite" }
    public var developmentMasterKeyPath: String { path + "/master.key" }

    /// Creates the folder (mode 0700) if it does not exist. An existing folder that group or
    /// others may enter is tightened to 0700; if that is not allowed, iolog refuses to use it.
    public func create() throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw IOLogError.refused("\(path) exists and is not a folder") }
            try Self.restrict(path, to: 0o700, what: "the data folder")
            return
        }
        try FileManager.default.createDirectory(
            atPath: path,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
    }

    /// Creates the folder and an empty database file with mode 0600 when missing. SQLite gives
    /// its `-wal` and `-shm` files the database file's mode, so they stay private too.
    func prepareDatabaseFile(_ filePath: String) throws {
        try create()
        let descriptor = open(filePath, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        if descriptor >= 0 {
            close(descriptor)
        } else if errno != EEXIST {
            throw IOLogError.refused("cannot create \(filePath): \(String(cString: strerror(errno)))")
        } else {
            for file in [filePath, filePath + "-wal", filePath + "-shm"] where FileManager.default.fileExists(atPath: file) {
                try Self.restrict(file, to: 0o600, what: "the database file")
            }
        }
    }

    /// Takes every permission of group and others away from `path` (leaving `mode` for the
    /// owner), or refuses with a message that says how to fix it.
    private static func restrict(_ path: String, to mode: mode_t, what: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw IOLogError.refused("cannot read the permissions of \(path): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & 0o077 != 0 else { return }
        guard chmod(path, mode) == 0 else {
            throw IOLogError.refused(
                "\(what) \(path) is open to group or others (mode \(String(info.st_mode & 0o777, radix: 8))) and iolog "
                    + "cannot change that (\(String(cString: strerror(errno)))); run chmod \(String(mode, radix: 8)) on it"
            )
        }
    }
}
