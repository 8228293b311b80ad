import Hummingbird
import IOLogCore
import Logging

/// Builds the whole service: storage, keyring, routes. Used by `iolog serve` and by the tests,
/// so the tests exercise the real wiring.
public func buildApplication(
    _ arguments: some AppArguments,
    logger: Logger = Logger(label: "iolog")
)
    async throws -> some ApplicationProtocol
{
    let store = try arguments.dataFolder.openStore()
    let keyring: DataKeyring
    do {
        keyring = try await arguments.dataFolder.openKeyring(masterKey: arguments.masterKey)
    } catch {
        await store.close()
        throw error
    }
    let services = ServiceContainer(store: store, keyring: keyring)

    let router = Router()
    router.add(middleware: APIErrorMiddleware(logger: logger))
    HealthController(store: store).register(on: router)

    return Application(
        router: router,
        configuration: ApplicationConfiguration(
            address: .hostname(arguments.hostname, port: arguments.port),
            serverName: "iolog"
        ),
        services: [services],
        logger: logger
    )
}
