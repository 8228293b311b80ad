import ArgumentParser
import Foundation
import IOLogCore
import IOLogServer
import Logging

/// `iolog serve`
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the HTTP service on the data folder.",
        discussion: """
            The master key comes from --master-key-file (one line of base64, mode 0600) or from \
            IOLOG_MASTER_KEY (base64). With --dev and neither, a development key is created in the \
            data folder, together with a demo organization and tokens to try the service with.
            """
    )

    @OptionGroup var data: DataOptions
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on.") var port = 8080
    @Flag(help: "Development mode: create a key, a demo organization and tokens. Not for production.")
    var dev = false
    @Flag(help: "With --dev: fill the demo organization with a few hundred realistic generations.")
    var demo = false
    @Option(help: "File holding the master key as one line of base64; must not be readable by group or others.")
    var masterKeyFile: String?
    @Option(
        name: .customLong("skip-region"),
        help: "Also skip generations routed through this region (repeatable); eu is always skipped."
    )
    var skipRegions: [String] = []
    @Option(help: "Largest request body accepted, in bytes (at most 256 MiB).")
    var maxBodyBytes: Int = AppDefaults.maximumBodyBytes
    @Option(help: "Connections served at once; more wait. Keep it below the open-files limit (ulimit -n).")
    var maxConnections: Int = ConnectionLimits.default.maximumConnections
    @OptionGroup var retention: RetentionOption
    @Option(
        name: .customLong("retention-interval-seconds"),
        help: ArgumentHelp("How often the retention purge runs (default: hourly).", visibility: .hidden)
    )
    var retentionIntervalSeconds: Int?

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0–65535") }
        guard (1...AppDefaults.maximumBodyBytesCeiling).contains(maxBodyBytes) else {
            throw ValidationError("--max-body-bytes must be from 1 to \(AppDefaults.maximumBodyBytesCeiling) (256 MiB)")
        }
        if let seconds = retentionIntervalSeconds, seconds < 1 {
            throw ValidationError("--retention-interval-seconds must be at least 1")
        }
        guard maxConnections >= 16 else { throw ValidationError("--max-connections must be at least 16") }
        guard !demo || dev else { throw ValidationError("--demo only works together with --dev") }
        for region in skipRegions where !GenerationInput.isRegion(region) {
            throw ValidationError("--skip-region \(region): a region is a short lowercase word, like us or apac")
        }
    }

    func run() async throws {
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        let folder = data.folder
        let storage = try data.storage
        // With PostgreSQL the folder holds nothing but a development key.
        if case .sqlite = storage { try folder.create() } else if dev { try folder.create() }
        let masterKey = try resolveMasterKey(folder: folder)
        var limits = ConnectionLimits.default
        limits.maximumConnections = maxConnections
        let arguments = ServeArguments(
            hostname: host,
            port: port,
            dataFolder: folder,
            storage: storage,
            masterKey: masterKey,
            extraSkippedRegions: skipRegions,
            maximumBodyBytes: maxBodyBytes,
            retention: try retention.policy(),
            retentionInterval: retentionIntervalSeconds.map { .seconds($0) } ?? AppDefaults.retentionInterval,
            connectionLimits: limits
        )
        let app = try await buildApplication(arguments)
        if dev { try await printDevelopmentBanner(folder: folder, storage: storage, masterKey: masterKey) }
        try await app.runService()
    }

    /// Seeds the demo organization through the real ingest path (sealed like any generation).
    private func seedDemo(engine: any StorageEngine, masterKey: MasterKey) async throws -> Int {
        let keyring = try await DataKeyring.open(keys: engine.keys, masterKey: masterKey)
        let ingest = IngestService(
            store: engine.store,
            envelope: BodyEnvelope(keyring: keyring),
            writer: GenerationWriter(store: engine.store),
            policy: IngestPolicy(extraSkippedRegions: skipRegions),
            clock: .system
        )
        return try await DemoData(store: engine.store, ingest: ingest).seed()
    }

    /// --master-key-file, else IOLOG_MASTER_KEY, else (only with --dev) the folder's development key.
    private func resolveMasterKey(folder: DataFolder) throws -> MasterKey {
        let fromEnvironment = try MasterKey.fromEnvironment()
        if let masterKeyFile {
            guard fromEnvironment == nil else {
                throw IOLogError(.invalidInput, "both --master-key-file and \(MasterKey.environmentVariable) are set; use one")
            }
            return try MasterKey.load(file: masterKeyFile)
        }
        if let fromEnvironment { return fromEnvironment }
        guard dev else {
            throw IOLogError(
                .invalidInput,
                "no master key: pass --master-key-file FILE or set \(MasterKey.environmentVariable) (or use --dev to try iolog)"
            )
        }
        let path = folder.developmentMasterKeyPath
        if FileManager.default.fileExists(atPath: path) { return try MasterKey.load(file: path) }
        let key = try MasterKey.createFile(at: path)
        warn("created a DEVELOPMENT master key at \(path) (mode 0600). Never use it for real data.")
        return key
    }

    private func printDevelopmentBanner(folder: DataFolder, storage: StorageLocation, masterKey: MasterKey) async throws {
        // With --demo, logging counts as on since 15 days ago, so the demo data can span two weeks.
        let since = Timestamp(micros: Clock.system.nowMicros() - 15 * 86_400_000_000)
        let (tokens, seeded) = try await storage.withEngine { engine in
            let tokens = try await DevelopmentSetup(store: engine.store).run(loggingSince: demo ? since : nil)
            return (tokens, demo ? try await seedDemo(engine: engine, masterKey: masterKey) : 0)
        }
        warn("DEVELOPMENT MODE: the master key lives in the data folder next to the data it protects.")
        print(
            """

            iolog is running in development mode on http://\(host):\(port)
              storage:        \(storage.description)
              Logs page:      http://\(host):\(port)/login  (sign in with the admin token)
              demo account:   \(DevelopmentSetup.accountID) (I/O logging on), admin user \(DevelopmentSetup.adminUserID)\(demo ? ", \(seeded) demo generations added" : "")
              gateway token:  \(tokens.gateway.token)
              admin token:    \(tokens.admin.token)
              health:         curl -s http://\(host):\(port)/healthz
              log one:        curl -s -X POST http://\(host):\(port)/v1/generations \\
                                -H 'Authorization: Bearer \(tokens.gateway.token)' \\
                                -H 'Content-Type: application/json' \\
                                -d '{"id":"gen-1","account_id":"\(DevelopmentSetup.accountID)","created_at":"'$(date -u +%FT%TZ)'",
                                     "model":"openai/gpt-4o","provider":"OpenAI",
                                     "prompt":[{"role":"user","content":"Hi"}],"completion":{"role":"assistant","content":"Hello!"}}'
              settings:       curl -s http://\(host):\(port)/v1/accounts/\(DevelopmentSetup.accountID)/settings \\
                                -H 'Authorization: Bearer \(tokens.admin.token)'

            """
        )
        // Standard output may be a pipe or a file; the tokens must reach it before the server blocks.
        fflush(nil)
    }
}

struct ServeArguments: AppArguments {
    let hostname: String
    let port: Int
    let dataFolder: DataFolder
    let storage: StorageLocation
    let masterKey: MasterKey
    let extraSkippedRegions: [String]
    let maximumBodyBytes: Int
    let retention: RetentionPolicy
    let retentionInterval: Duration?
    let connectionLimits: ConnectionLimits
}

/// Writes a warning line to standard error.
func warn(_ message: String) {
    FileHandle.standardError.write(Data("iolog: warning: \(message)\n".utf8))
}
