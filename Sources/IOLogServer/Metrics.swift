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
        if let requests = try? await services.store.deletionRequests(accountID: nil, status: nil) {
            for status in DeletionStatus.allCases {
                metrics.gauge("iolog_deletion_requests", requests.count { $0.status == status }, [("status", status.rawValue)])
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
