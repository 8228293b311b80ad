import CoreMetrics
import Hummingbird
import IOLogCore
import Prometheus

/// The server's metrics: swift-metrics handles (`ServiceMetrics`) recorded into a Prometheus
/// registry of this server's own (not the process-wide `MetricsSystem`, so every server built in
/// one process — the tests build many — counts only its own traffic), served at `/metrics`.
public final class MetricsExporter: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let metrics: ServiceMetrics

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = ServiceMetrics.durationBuckets
        factory.valueHistogramBuckets = ServiceMetrics.valueBuckets
        metrics = ServiceMetrics(factory: factory)
    }

    /// The exposition text, after reading the gauges that are sampled rather than counted.
    func render(_ services: AppServices) async -> [UInt8] {
        metrics.gauge("iolog_ingest_queue_depth", services.writer.queueDepth)
        for use in services.engine.connectionUse() {
            metrics.gauge("iolog_db_connections", use.size, [("role", use.role), ("state", "capacity")])
            metrics.gauge("iolog_db_connections", use.busy, [("role", use.role), ("state", "busy")])
            metrics.gauge("iolog_db_connection_waiters", use.waiting, [("role", use.role)])
        }
        // From the databases: what commands run elsewhere (deletions, rotations) changed.
        for status in DeletionStatus.allCases {
            if let requests = try? await services.store.deletionRequests(accountID: nil, status: status) {
                metrics.gauge("iolog_deletion_requests", requests.count, [("status", status.rawValue)])
            }
        }
        if let state = (try? await services.engine.keys.masterKeyState()) ?? nil {
            metrics.gauge("iolog_master_key_rotation_in_progress", state.nextKeyID == nil ? 0 : 1)
        }
        return registry.emitToBuffer()
    }
}

/// `GET /metrics`: no token, no content (Prometheus text format 0.0.4).
struct MetricsController {
    let services: AppServices

    func register(on router: Router<IOLogRequestContext>) {
        router.get("/metrics") { _, _ -> Response in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: await services.exporter.render(services)))
            )
        }
    }
}

/// Counts every request and its duration by route pattern, method and status. The route is the
/// pattern that matched (`/v1/accounts/{account}/generations/{id}`), never the path, and unknown
/// methods share one label, so a client cannot create series.
struct RequestMetricsMiddleware: RouterMiddleware {
    typealias Context = IOLogRequestContext
    let metrics: ServiceMetrics

    static let methods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let method = Self.methods.contains(request.method.rawValue) ? request.method.rawValue : "other"
        do {
            let response = try await next(request, context)
            metrics.request(route: Self.route(context), method: method, status: response.status.code, duration: ContinuousClock.now - started)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            metrics.request(route: Self.route(context), method: method, status: status, duration: ContinuousClock.now - started)
            throw error
        }
    }

    /// The route pattern that matched (Hummingbird says `NotFound` when none did); `unmatched`
    /// when there is none or it is longer than any of iolog's patterns. Shared with the log line.
    static func route(_ context: Context) -> String {
        guard let path = context.endpointPath, path.count <= 100 else { return "unmatched" }
        return path
    }
}
