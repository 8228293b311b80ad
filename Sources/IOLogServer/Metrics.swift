import Hummingbird
import IOLogCore
import Synchronization

/// Counters served at `/metrics` in Prometheus text format. Counts and ids only, never content.
public final class ServerMetrics: Sendable {
    /// The outcomes counted, in the order they are rendered.
    private static let outcomes = ["stored", "duplicate", "skipped", "rejected", "overloaded"]
    private let counts = Mutex<[String: Int]>([:])
    private let writer: GenerationWriter

    init(writer: GenerationWriter) { self.writer = writer }

    func record(_ results: [IngestResult]) {
        counts.withLock { counts in
            for result in results {
                let outcome =
                    switch result {
                    case .stored: "stored"
                    case .duplicate: "duplicate"
                    case .skipped: "skipped"
                    case .conflict, .invalid: "rejected"
                    }
                counts[outcome, default: 0] += 1
            }
        }
    }

    func recordOverloaded(_ count: Int) { counts.withLock { $0["overloaded", default: 0] += count } }

    /// The exposition text.
    public func render() -> String {
        let snapshot = counts.withLock { $0 }
        var lines = [
            "# HELP iolog_ingest_generations_total Generations answered by ingest, by outcome.",
            "# TYPE iolog_ingest_generations_total counter",
        ]
        for outcome in Self.outcomes {
            lines.append("iolog_ingest_generations_total{outcome=\"\(outcome)\"} \(snapshot[outcome] ?? 0)")
        }
        lines += [
            "# HELP iolog_ingest_commits_total Transactions committed by the ingest writer.",
            "# TYPE iolog_ingest_commits_total counter",
            "iolog_ingest_commits_total \(writer.commitCount)",
            "# HELP iolog_ingest_committed_rows_total Rows handed to those transactions.",
            "# TYPE iolog_ingest_committed_rows_total counter",
            "iolog_ingest_committed_rows_total \(writer.committedRowCount)",
            "# HELP iolog_ingest_queue_depth Rows waiting for a commit.",
            "# TYPE iolog_ingest_queue_depth gauge",
            "iolog_ingest_queue_depth \(writer.queueDepth)",
        ]
        return lines.joined(separator: "\n") + "\n"
    }
}

/// `GET /metrics`: no token, no content.
struct MetricsController {
    let metrics: ServerMetrics

    func register(on router: Router<IOLogRequestContext>) {
        router.get("/metrics") { _, _ -> Response in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: metrics.render()))
            )
        }
    }
}
