import IOLogCore

/// What `buildApplication` needs; `iolog serve` and the tests both provide it.
public protocol AppArguments: Sendable {
    /// Address to listen on, e.g. `127.0.0.1`.
    var hostname: String { get }
    /// Port to listen on.
    var port: Int { get }
    /// Where the SQLite databases live.
    var dataFolder: DataFolder { get }
    /// The key that unwraps the accounts' data keys.
    var masterKey: MasterKey { get }
}
