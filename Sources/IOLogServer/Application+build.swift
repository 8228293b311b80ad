import Hummingbird
import IOLogCore
import Logging
import ServiceLifecycle

/// Builds the whole service: storage, keyring, routes. Used by `iolog serve` and by the tests,
/// so the tests exercise the real wiring.
public func buildApplication(
    _ arguments: some AppArguments,
    logger: Logger = Logger(label: "iolog")
)
    async throws -> some ApplicationProtocol
{
    let services = try await AppServices.open(arguments, logger: logger)
    let limits = arguments.connectionLimits
    var app = Application(
        router: buildRouter(services, logger: logger),
        server: limits.server(),
        configuration: ApplicationConfiguration(
            address: .hostname(arguments.hostname, port: arguments.port),
            serverName: "iolog",
            availableConnectionsDelegate: .maximum(limits.maximumConnections, logger: logger)
        ),
        services: [StorageService(engine: services.engine), services] + retentionServices(services, arguments, logger: logger),
        onServerRunning: { _ in await services.recordRetention() },
        logger: logger
    )
    app.beforeServerStarts { try await services.prepare() }
    return app
}

private func retentionServices(_ services: AppServices, _ arguments: some AppArguments, logger: Logger) -> [any Service] {
    guard let interval = arguments.retentionInterval, services.retention.months != nil else { return [] }
    let purge = RetentionPurge(store: services.store, policy: services.retention, clock: arguments.clock)
    return [RetentionService(purge: purge, store: services.store, metrics: services.metrics, interval: interval, logger: logger)]
}

/// Every route of the service, with its middleware.
public func buildRouter(_ services: AppServices, logger: Logger) -> Router<IOLogRequestContext> {
    let router = Router(context: IOLogRequestContext.self)
    router.add(middleware: RequestTelemetryMiddleware(metrics: services.metrics))
    router.add(middleware: SecurityHeadersMiddleware())
    router.add(middleware: APIErrorMiddleware())
    // Bodies outside the API are forms of at most 16 KiB; a body sent to the API reserves its
    // size only once its token is known to be valid, so no one without a token can hold the
    // budget (and stall every gateway's ingest) by trickling a large body in.
    router.add(
        middleware: BodyBudgetMiddleware(budget: services.bodyBudget, maximumBodyBytes: PagesController.maximumFormBytes, skippingPrefix: "/v1/")
    )
    HealthController(store: services.store).register(on: router)
    MetricsController(services: services).register(on: router)

    let api = router.group("v1")
        .add(middleware: AuthenticationMiddleware(tokens: services.tokens, metrics: services.metrics, failures: services.authFailures))
        .add(middleware: BodyBudgetMiddleware(budget: services.bodyBudget, maximumBodyBytes: services.maximumBodyBytes))
    IngestController(services: services).register(on: api.group("generations").add(middleware: RequirePrincipal.ingest(metrics: services.metrics)))
    TracesController(services: services).register(on: api.group("traces").add(middleware: RequirePrincipal.ingest(metrics: services.metrics)))
    PlatformController(services: services).register(
        on: api.group("accounts").add(middleware: RequirePrincipal.kind(.platform, metrics: services.metrics))
    )
    let admin = api.group("accounts/:account").add(middleware: AccountAdminMiddleware(services: services))
    SettingsController(services: services).register(on: admin)
    GenerationsController(services: services).register(on: admin)
    AuditController(services: services).register(on: admin)
    DeletionRequestsController(services: services).register(on: admin)
    IngestTokensController(services: services).register(on: admin)

    AssetsController().register(on: router)
    PagesController(services: services, renderer: services.pages).register(on: router)
    return router
}
