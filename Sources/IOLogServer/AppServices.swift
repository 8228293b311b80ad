import IOLogCore
import Logging
import ServiceLifecycle

/// The long-lived parts of a running service, opened once and closed on shutdown.
public struct AppServices: Service {
    public let engine: any StorageEngine
    public let store: any LogStore
    public let keyring: DataKeyring
    public let tokens: TokenService
    public let directory: AccountDirectory
    public let writer: GenerationWriter
    public let ingest: IngestService
    public let read: ReadService
    public let sessions: SessionService
    let pages: PageRenderer
    public let exporter: MetricsExporter
    public var metrics: ServiceMetrics { exporter.metrics }
    public let clock: Clock
    public let maximumBodyBytes: Int
    public let bodyBudget: BodyBudget
    public let retention: RetentionPolicy
    let authFailures: AuthFailureLimiter
    let denials = DenialQueue()
    let logger: Logger

    /// Opens the storage engine (without I/O: `prepare()` migrates it before the server starts)
    /// and wires the services over it.
    public static func open(_ arguments: some AppArguments, logger: Logger = Logger(label: "iolog")) async throws -> AppServices {
        for region in arguments.extraSkippedRegions where !GenerationInput.isRegion(region) {
            throw IOLogError(.invalidInput, "--skip-region \(region) is not a region name (a short lowercase word)")
        }
        guard (1...AppDefaults.maximumBodyBytesCeiling).contains(arguments.maximumBodyBytes) else {
            throw IOLogError(.invalidInput, "--max-body-bytes must be from 1 to \(AppDefaults.maximumBodyBytesCeiling) (256 MiB)")
        }
        guard arguments.bodyBudgetBytes >= arguments.maximumBodyBytes else {
            throw IOLogError(.invalidInput, "--max-body-bytes-in-flight must be at least --max-body-bytes (\(arguments.maximumBodyBytes))")
        }
        let engine = try arguments.storage.open()
        let store = engine.store
        let exporter = MetricsExporter()
        let keyring = DataKeyring(
            keys: engine.keys,
            masterKey: arguments.masterKey,
            previousMasterKey: arguments.previousMasterKey,
            rollover: arguments.keyRollover,
            clock: arguments.clock,
            metrics: exporter.metrics
        )
        let writer = GenerationWriter(store: store, capacity: arguments.ingestQueueCapacity, metrics: exporter.metrics)
        let envelope = BodyEnvelope(keyring: keyring)
        let ingest = IngestService(
            store: store,
            envelope: envelope,
            writer: writer,
            policy: IngestPolicy(extraSkippedRegions: arguments.extraSkippedRegions),
            clock: arguments.clock
        )
        return AppServices(
            engine: engine,
            store: store,
            keyring: keyring,
            tokens: TokenService(store: store, clock: arguments.clock),
            directory: AccountDirectory(store: store, clock: arguments.clock),
            writer: writer,
            ingest: ingest,
            read: ReadService(store: store, envelope: envelope, clock: arguments.clock),
            sessions: SessionService(store: store, clock: arguments.clock),
            pages: try PageRenderer(),
            exporter: exporter,
            clock: arguments.clock,
            maximumBodyBytes: arguments.maximumBodyBytes,
            bodyBudget: BodyBudget(capacity: arguments.bodyBudgetBytes),
            retention: arguments.retention,
            authFailures: AuthFailureLimiter(policy: arguments.authFailurePolicy),
            logger: logger
        )
    }

    /// Records the retention this server runs with, for `iolog retention run` (which must not
    /// purge with a shorter one). Called once the server is listening, so a `serve` that fails
    /// to start changes nothing; a change is audited (`retention.set`) and a shortening logged.
    func recordRetention() async {
        let now = Timestamp(micros: clock.nowMicros())
        do {
            let previous = try await store.setRetentionPolicy(
                retention,
                at: now,
                audit: AuditEvent(
                    occurredAt: now,
                    actor: "serve",
                    action: "retention.set",
                    detail: JSONValue.object(["retention": .string(retention.description)]).canonicalText
                )
            )
            if let previous, retention.isShorter(than: previous) {
                logger.warning("retention shortened", metadata: ["from": "\(previous)", "to": "\(retention)"])
            }
        } catch {
            logger.error("retention not recorded", metadata: .describing(error))
        }
    }

    /// Migrates the engine and checks the master key against the keyring; runs before the
    /// server starts listening (Hummingbird's `beforeServerStarts`), so a server that listens
    /// has a current schema and the right key.
    public func prepare() async throws {
        try await engine.migrate()
        try await keyring.verifyMasterKey()
    }

    /// Writes refused accesses to the audit trail until shutdown, then the last of them.
    public func run() async throws {
        await withGracefulShutdownHandler {
            await denials.run(read: read, logger: logger)
        } onGracefulShutdown: {
            denials.finish()
        }
    }
}

extension AppServices: CustomStringConvertible {
    /// What service-lifecycle logs at start and stop: a name, not every field (templates included).
    public var description: String { "AppServices" }
}

/// Closes the storage engine on shutdown. It is the first service of the group, so it stops
/// last: after the server has answered its last request and the services above have written
/// what they still held (the order is server, writer and audit queue, storage).
struct StorageService: Service {
    let engine: any StorageEngine

    func run() async throws {
        try? await gracefulShutdown()
        await engine.close()
    }
}

/// Runs the retention purge every `interval` while the service runs (DESIGN §6). A failed
/// purge is logged and tried again at the next interval; it never stops the service.
struct RetentionService: Service {
    let purge: RetentionPurge
    let store: any LogStore
    let metrics: ServiceMetrics
    let interval: Duration
    let logger: Logger

    func run() async throws {
        var wait = min(.seconds(60), interval)
        var runner = false
        while !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown { [wait] in try await Task.sleep(for: wait) }
            } catch {
                return
            }
            wait = interval
            do {
                // With several replicas on one PostgreSQL, one of them runs the purge.
                guard try await store.claimMaintenance("retention") else { continue }
                if !runner {
                    runner = true
                    logger.info("this process runs the retention purge")
                }
                let report = try await purge.run(actor: "serve:retention", auditWhenNothing: false)
                metrics.purged(rows: report.rows)
                if report.rows > 0 {
                    logger.info("retention purge", metadata: ["rows": "\(report.rows)", "cutoff": "\(report.cutoff?.rfc3339 ?? "-")"])
                }
            } catch {
                logger.error("retention purge failed", metadata: .describing(error))
            }
        }
    }
}
