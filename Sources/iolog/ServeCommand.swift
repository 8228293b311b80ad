import ArgumentParser
import Foundation
import IOLogCore
import IOLogServer
import Logging
import ServiceLifecycle

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
    @Option(help: "Address to listen on (IOLOG_HOST; default 127.0.0.1).") var host: String?
    @Option(help: "Port to listen on (IOLOG_PORT; default 8080).") var port: Int?
    @Flag(help: "Development mode: create a key, a demo organization and tokens. Not for production (IOLOG_DEV).")
    var dev = false
    @Flag(help: "With --dev: fill the demo organization with a few hundred realistic generations (IOLOG_DEMO).")
    var demo = false
    @Option(
        help: "File holding the master key as one line of base64; must not be readable by group or others (IOLOG_MASTER_KEY_FILE)."
    )
    var masterKeyFile: String?
    @Option(help: "During a master-key rotation: the key being replaced, to read data keys not yet rewrapped (IOLOG_PREVIOUS_MASTER_KEY_FILE).")
    var previousMasterKeyFile: String?
    @Option(
        name: .customLong("skip-region"),
        help: "Also skip generations routed through this region (repeatable; IOLOG_SKIP_REGION=us,apac); eu is always skipped."
    )
    var skipRegions: [String] = []
    @Option(help: "Largest request body accepted, in bytes, at most 256 MiB (IOLOG_MAX_BODY_BYTES; default 16 MiB).")
    var maxBodyBytes: Int?
    @Option(
        help:
            "Request-body bytes the server holds at once; past it, requests with bodies get 503 before their body is read (IOLOG_MAX_BODY_BYTES_IN_FLIGHT; default 64 MiB)."
    )
    var maxBodyBytesInFlight: Int?
    @Option(help: "Connections served at once; more wait. Keep it below the open-files limit, ulimit -n (IOLOG_MAX_CONNECTIONS; default 1000).")
    var maxConnections: Int?
    @Option(help: "Keep generations this many calendar months (3 or more), or 'unlimited' (IOLOG_RETENTION_MONTHS; default 3).")
    var retentionMonths: String?
    @Option(
        name: .customLong("retention-interval-seconds"),
        help: ArgumentHelp("How often the retention purge runs (IOLOG_RETENTION_INTERVAL_SECONDS; default hourly).", visibility: .hidden)
    )
    var retentionIntervalSeconds: Int?
    @Option(help: "Seals after which an account's data key is replaced for new writes (IOLOG_DATA_KEY_MAX_SEALS; default 2^28).")
    var dataKeyMaxSeals: Int64?
    @Option(help: "Days after which an account's data key is replaced for new writes (IOLOG_DATA_KEY_MAX_AGE_DAYS; default 90).")
    var dataKeyMaxAgeDays: Int?
    @Option(help: "Log lines as text or json, one per line on standard error (IOLOG_LOG_FORMAT; default text).")
    var logFormat: LogFormat?
    @Option(help: "Least severe level logged: trace, debug, info, notice, warning, error, critical (IOLOG_LOG_LEVEL; default info).")
    var logLevel: Logger.Level?
    @Option(
        help: "On SIGTERM, how long in-flight requests and commits may take before the process stops (IOLOG_SHUTDOWN_TIMEOUT_SECONDS; default 30)."
    )
    var shutdownTimeoutSeconds: Int?

    func validate() throws {
        _ = try ServeConfiguration(self, environment: ProcessInfo.processInfo.environment)
    }

    func run() async throws {
        let configuration = try ServeConfiguration(self, environment: ProcessInfo.processInfo.environment)
        LoggingSystem.bootstrap(configuration.logFormat.handlerFactory(level: configuration.logLevel))
        var logger = Logger(label: "iolog")
        logger.logLevel = configuration.logLevel
        let folder = data.folder
        let storage = try data.storage
        // With PostgreSQL the folder holds nothing but a development key.
        if case .sqlite = storage { try folder.create() } else if configuration.dev { try folder.create() }
        let (masterKey, keySource) = try resolveMasterKey(configuration, folder: folder)
        let previousMasterKey = try configuration.previousMasterKeyFile.map { try MasterKey.load(file: $0) }
        if let previousMasterKey, previousMasterKey.id == masterKey.id {
            throw IOLogError(.invalidInput, "--previous-master-key-file holds the same key as the master key (id \(masterKey.id))")
        }
        var limits = ConnectionLimits.default
        limits.maximumConnections = configuration.maxConnections
        let arguments = ServeArguments(
            hostname: configuration.host,
            port: configuration.port,
            dataFolder: folder,
            storage: storage,
            masterKey: masterKey,
            previousMasterKey: previousMasterKey,
            keyRollover: configuration.keyRollover,
            extraSkippedRegions: configuration.skipRegions,
            maximumBodyBytes: configuration.maxBodyBytes,
            bodyBudgetBytes: configuration.maxBodyBytesInFlight,
            retention: configuration.retention,
            retentionInterval: configuration.retentionInterval,
            connectionLimits: limits
        )
        var summary = configuration.resolver
        summary.note("data-dir", folder.path, summary.source(flagGiven: data.dataDirectoryFlag != nil, "data-dir"))
        summary.note("storage", storage.description, summary.source(flagGiven: data.databaseURL != nil, "database-url"))
        // The key itself is shown only by its id.
        let keyOrigin: SettingsResolver.Source =
            keySource.hasPrefix("file")
            ? summary.source(of: "master-key-file")
            : keySource == MasterKey.environmentVariable ? .environment : .default
        summary.note("master-key", "id \(masterKey.id) from \(keySource)", keyOrigin)
        if let previousMasterKey {
            summary.note("previous-master-key", "id \(previousMasterKey.id)", summary.source(of: "previous-master-key-file"))
        }
        logger.info("configuration", metadata: summary.metadata)

        let app = try await buildApplication(arguments, logger: logger)
        if configuration.dev {
            try await printDevelopmentBanner(configuration, folder: folder, storage: storage, masterKey: masterKey)
        }
        var group = ServiceGroupConfiguration(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        group.maximumGracefulShutdownDuration = configuration.shutdownTimeout
        group.maximumCancellationDuration = .seconds(5)
        try await ServiceGroup(configuration: group).run()
        logger.info("stopped")
    }

    /// Seeds the demo organization through the real ingest path (sealed like any generation).
    private func seedDemo(engine: any StorageEngine, masterKey: MasterKey, skipRegions: [String]) async throws -> Int {
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

    /// --master-key-file (or IOLOG_MASTER_KEY_FILE), else IOLOG_MASTER_KEY, else (only with
    /// --dev) the folder's development key; with where it came from.
    private func resolveMasterKey(_ configuration: ServeConfiguration, folder: DataFolder) throws -> (MasterKey, String) {
        let fromEnvironment = try MasterKey.fromEnvironment()
        if let masterKeyFile = configuration.masterKeyFile {
            guard fromEnvironment == nil else {
                throw IOLogError(.invalidInput, "both --master-key-file and \(MasterKey.environmentVariable) are set; use one")
            }
            return (try MasterKey.load(file: masterKeyFile), "file \(masterKeyFile)")
        }
        if let fromEnvironment { return (fromEnvironment, MasterKey.environmentVariable) }
        guard configuration.dev else {
            throw IOLogError(
                .invalidInput,
                "no master key: pass --master-key-file FILE or set \(MasterKey.environmentVariable) (or use --dev to try iolog)"
            )
        }
        let path = folder.developmentMasterKeyPath
        if FileManager.default.fileExists(atPath: path) { return (try MasterKey.load(file: path), "development file \(path)") }
        let key = try MasterKey.createFile(at: path)
        warn("created a DEVELOPMENT master key at \(path) (mode 0600). Never use it for real data.")
        return (key, "development file \(path)")
    }

    private func printDevelopmentBanner(
        _ configuration: ServeConfiguration,
        folder: DataFolder,
        storage: StorageLocation,
        masterKey: MasterKey
    ) async throws {
        let (host, port, demo) = (configuration.host, configuration.port, configuration.demo)
        // With --demo, logging counts as on since 15 days ago, so the demo data can span two weeks.
        let since = Timestamp(micros: Clock.system.nowMicros() - 15 * 86_400_000_000)
        let (tokens, seeded) = try await storage.withEngine { engine in
            let tokens = try await DevelopmentSetup(store: engine.store).run(loggingSince: demo ? since : nil)
            return (tokens, demo ? try await seedDemo(engine: engine, masterKey: masterKey, skipRegions: configuration.skipRegions) : 0)
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
    let previousMasterKey: MasterKey?
    let keyRollover: KeyRolloverPolicy
    let extraSkippedRegions: [String]
    let maximumBodyBytes: Int
    let bodyBudgetBytes: Int
    let retention: RetentionPolicy
    let retentionInterval: Duration?
    let connectionLimits: ConnectionLimits
}

/// Writes a warning line to standard error.
func warn(_ message: String) {
    FileHandle.standardError.write(Data("iolog: warning: \(message)\n".utf8))
}
