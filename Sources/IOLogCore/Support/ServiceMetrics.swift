import CoreMetrics
import Synchronization

/// Every metric iolog records, through swift-metrics, into the factory it was made with (the
/// server's Prometheus registry; a no-op factory in commands and most tests).
///
/// Labels are small closed sets — outcome, reason, route pattern, method, status, kind — never
/// an account, a user, an id or content. `docs/OPERATIONS.md` says what each one means.
public final class ServiceMetrics: Sendable {
    /// Records nothing.
    public static let disabled = ServiceMetrics(factory: NOOPMetricsHandler.instance)

    /// Histogram buckets (Prometheus `le`) of the value histograms, by metric name.
    public static let valueBuckets: [String: [Double]] = [
        "iolog_ingest_batch_size": [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
        "iolog_ingest_commit_rows": [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000],
    ]
    /// Histogram buckets of the durations (seconds), shared by all of them.
    public static let durationBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5),
        .seconds(5), .seconds(10),
    ]

    let factory: any MetricsFactory
    private let commitDuration: Timer
    private let commitRows: Recorder
    private let batchSize: Recorder
    private let rollovers: Counter
    private let purgedRows: Counter
    private let bodiesInFlight: Meter
    private let bodyBytesInFlight: Meter
    /// Handles with labels (counters, timers, gauges), made once per label set: a request
    /// looks its handles up here instead of asking the factory (and its lock) for new ones.
    private let labelled = Mutex<[String: any Sendable]>([:])

    public init(factory: any MetricsFactory) {
        self.factory = factory
        commitDuration = Timer(label: "iolog_ingest_commit_duration_seconds", factory: factory)
        commitRows = Recorder(label: "iolog_ingest_commit_rows", aggregate: true, factory: factory)
        batchSize = Recorder(label: "iolog_ingest_batch_size", aggregate: true, factory: factory)
        rollovers = Counter(label: "iolog_data_key_rollovers_total", factory: factory)
        purgedRows = Counter(label: "iolog_retention_purged_rows_total", factory: factory)
        bodiesInFlight = Meter(label: "iolog_http_bodies_in_flight", factory: factory)
        bodyBytesInFlight = Meter(label: "iolog_http_body_bytes_in_flight", factory: factory)
    }

    /// `kind` keeps a counter and a timer of the same label apart.
    private func handle<Handle: Sendable>(
        _ kind: String,
        _ label: String,
        _ dimensions: [(String, String)],
        make: (String, [(String, String)], any MetricsFactory) -> Handle
    ) -> Handle {
        var key = label
        for (name, value) in dimensions {
            key += "|"
            key += name
            key += "="
            key += value
        }
        key += "|"
        key += kind
        return labelled.withLock { handles in
            if let handle = handles[key] as? Handle { return handle }
            let handle = make(label, dimensions, factory)
            handles[key] = handle
            return handle
        }
    }

    private func counter(_ label: String, _ dimensions: [(String, String)]) -> Counter {
        handle("counter", label, dimensions) { Counter(label: $0, dimensions: $1, factory: $2) }
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }

    // MARK: Ingest

    /// One answer per generation, by outcome (and reason for skips and errors).
    public func ingested(_ results: [IngestResult]) {
        for result in results {
            let (outcome, reason): (String, String) =
                switch result {
                case .stored: ("stored", "none")
                case .duplicate: ("duplicate", "none")
                case .skipped(_, let reason): ("skipped", reason.rawValue)
                case .conflict: ("rejected", "conflict")
                case .invalid: ("rejected", "invalid")
                case .forbidden: ("rejected", "forbidden")
                }
            counter("iolog_ingest_generations_total", [("outcome", outcome), ("reason", reason)]).increment()
        }
    }

    /// Generations answered 503 because the writer's queue was full.
    /// Spans of OTLP exports by outcome (generation, ignored, rejected) and convention.
    public func traceSpans(outcome: String, convention: String) {
        counter("iolog_trace_spans_total", [("outcome", outcome), ("convention", convention)]).increment()
    }

    public func ingestOverloaded(_ count: Int) {
        counter("iolog_ingest_generations_total", [("outcome", "overloaded"), ("reason", "queue_full")]).increment(by: count)
    }

    /// Generations in one request (1 for a single POST).
    public func ingestBatch(size: Int) { batchSize.record(size) }

    /// One transaction of the ingest writer: how long it took to be durable, and its rows.
    public func committed(rows: Int, duration: Duration) {
        commitDuration.recordNanoseconds(Self.nanoseconds(duration))
        commitRows.record(rows)
    }

    // MARK: Keys, retention, access

    /// An account's data key replaced for new writes (seal count or age reached).
    public func dataKeyRolledOver() { rollovers.increment() }

    /// Rows removed by the periodic retention purge.
    public func purged(rows: Int) { purgedRows.increment(by: rows) }

    /// A refused access, by kind (`DESIGN` §3: wrong account, not an admin, revoked, …).
    public func accessDenied(kind: String) { counter("iolog_access_denials_total", [("kind", kind)]).increment() }

    // MARK: HTTP

    /// A request body being decoded: counted until `bodyFinished` runs.
    public func bodyStarted(bytes: Int) {
        bodiesInFlight.increment()
        bodyBytesInFlight.increment(by: Double(bytes))
    }

    public func bodyFinished(bytes: Int) {
        bodiesInFlight.decrement()
        bodyBytesInFlight.decrement(by: Double(bytes))
    }

    /// Sets a gauge that is read when the metrics are scraped (queue depth, pool use…).
    public func gauge(_ label: String, _ value: Int, _ dimensions: [(String, String)] = []) {
        handle("gauge", label, dimensions) { Gauge(label: $0, dimensions: $1, factory: $2) }.record(value)
    }

    /// A request counter and duration, by route pattern (never the path itself), method and status.
    public func request(route: String, method: String, status: Int, duration: Duration) {
        let dimensions = [("route", route), ("method", method), ("status", String(status))]
        counter("iolog_http_requests_total", dimensions).increment()
        handle("timer", "iolog_http_request_duration_seconds", [("route", route), ("method", method)]) {
            Timer(label: $0, dimensions: $1, factory: $2)
        }.recordNanoseconds(Self.nanoseconds(duration))
    }
}
