import IOLogCore
import ServiceLifecycle

/// Owns the long-lived storage resources and closes them cleanly on shutdown.
struct ServiceContainer: Service {
    let store: any LogStore
    let keyring: DataKeyring

    func run() async throws {
        // Nothing to do until shutdown; cancellation also ends the wait.
        try? await gracefulShutdown()
        await store.close()
        await keyring.close()
    }
}
