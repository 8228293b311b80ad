import HTTPTypes
import Hummingbird
import IOLogCore
import Logging

/// What every request leaves behind, measured once: an id, a metric and a log line.
///
/// * The id is on every log line of the request and in the `X-Request-Id` response header: the
///   caller's `X-Request-Id` when it is a sane token (1–128 characters of `A-Z a-z 0-9 . _ : -`,
///   so a caller cannot write arbitrary text into the log), else a fresh one.
/// * The request is counted, and its duration recorded, by route pattern, method and status
///   (`ServiceMetrics.request`).
/// * One `request` line is logged: at `error` for a 5xx, at `info` when it took longer than a
///   second, at `debug` otherwise.
///
/// Both name the route pattern that matched (`/v1/accounts/{account}/generations/{id}`), never
/// the path or its query string, and fold unknown methods into `other`, so a client can neither
/// create metric series nor put a path into the log.
struct RequestTelemetryMiddleware: RouterMiddleware {
    typealias Context = IOLogRequestContext
    let metrics: ServiceMetrics

    static let header = HTTPField.Name("X-Request-Id")!
    static let slow: Duration = .seconds(1)
    static let methods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    static func isSane(_ value: String) -> Bool {
        let utf8 = value.utf8
        return (1...128).contains(utf8.count)
            && utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    true
                case UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":"), UInt8(ascii: "-"): true
                default: false
                }
            }
    }

    /// The route pattern that matched (Hummingbird says `NotFound` when none did); `unmatched`
    /// when there is none or it is longer than any of iolog's patterns.
    static func route(_ context: Context) -> String {
        guard let path = context.endpointPath, path.count <= 100 else { return "unmatched" }
        return path
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let id = request.headers[Self.header].flatMap { Self.isSane($0) ? $0 : nil } ?? RequestID().description
        context.logger[metadataKey: "hb.request.id"] = .string(id)
        let method = Self.methods.contains(request.method.rawValue) ? request.method.rawValue : "other"
        let started = ContinuousClock.now
        do {
            var response = try await next(request, context)
            response.headers[Self.header] = id
            record(response.status.code, method: method, since: started, context: context)
            return response
        } catch {
            // Errors are answers by now (SecurityHeadersMiddleware turns them into responses);
            // anything else still counts, as Hummingbird will answer it.
            record((error as? any HTTPResponseError)?.status.code ?? 500, method: method, since: started, context: context)
            throw error
        }
    }

    private func record(_ status: Int, method: String, since started: ContinuousClock.Instant, context: Context) {
        let elapsed = ContinuousClock.now - started
        let route = Self.route(context)
        metrics.request(route: route, method: method, status: status, duration: elapsed)
        let level: Logger.Level = status >= 500 ? .error : elapsed > Self.slow ? .info : .debug
        context.logger.log(
            level: level,
            "request",
            metadata: [
                "method": .string(method),
                "route": .string(route),
                "status": .stringConvertible(status),
                "duration_ms": .stringConvertible((elapsed / .milliseconds(1)).rounded()),
            ]
        )
    }
}
