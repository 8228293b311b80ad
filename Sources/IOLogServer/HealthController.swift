import Hummingbird
import IOLogCore

/// `GET /healthz`: no token needed, reveals nothing but liveness.
struct HealthController {
    let store: any LogStore

    struct Health: ResponseEncodable {
        let status: String
    }

    func register(on router: Router<IOLogRequestContext>) {
        router.get("/healthz") { _, _ -> Health in
            do {
                try await store.checkHealth()
            } catch {
                throw APIError(status: .serviceUnavailable, code: "unavailable", message: "the database does not answer")
            }
            return Health(status: "ok")
        }
    }
}
