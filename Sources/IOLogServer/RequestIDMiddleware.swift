import HTTPTypes
import Hummingbird
import IOLogCore
import Logging

/// Gives every request an id, on every log line of the request and in the `X-Request-Id`
/// response header: the caller's `X-Request-Id` when it is a sane token (1–128 characters of
/// `A-Z a-z 0-9 . _ : -`, so a caller cannot write arbitrary text into the log), else a fresh one.
/// Requests taking longer than a second, and every 5xx, are logged at `info`/`error`; the rest at
/// `debug`. The line names the route pattern, never the path or its query string.
struct RequestIDMiddleware: RouterMiddleware {
    typealias Context = IOLogRequestContext
    static let header = HTTPField.Name("X-Request-Id")!
    static let slow: Duration = .seconds(1)

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

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let id = request.headers[Self.header].flatMap { Self.isSane($0) ? $0 : nil } ?? RequestID().description
        context.logger[metadataKey: "hb.request.id"] = .string(id)
        let started = ContinuousClock.now
        var response = try await next(request, context)
        response.headers[Self.header] = id
        let elapsed = ContinuousClock.now - started
        let level: Logger.Level = response.status.code >= 500 ? .error : elapsed > Self.slow ? .info : .debug
        context.logger.log(
            level: level,
            "request",
            metadata: [
                "method": .string(request.method.rawValue.count <= 10 ? request.method.rawValue : "other"),
                "route": .string(RequestMetricsMiddleware.route(context)),
                "status": .stringConvertible(response.status.code),
                "duration_ms": .stringConvertible((elapsed / .milliseconds(1)).rounded()),
            ]
        )
        return response
    }
}
