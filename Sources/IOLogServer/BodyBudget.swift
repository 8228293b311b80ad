import Hummingbird
import Synchronization

/// The request-body bytes the whole server holds at once. Every request that carries a body
/// reserves its size (its `Content-Length`, or the largest body accepted when it is chunked)
/// before a byte of it is read, and gives it back when its answer is ready; past the budget the
/// request is answered 503 with `Retry-After` and its body is never buffered. So memory under
/// any number of concurrent uploads is bounded by the budget (times the few copies one body
/// needs: the collected bytes, the parsed value, the sealed rows), not by the client count.
public final class BodyBudget: Sendable {
    /// Bytes that may be reserved at once.
    public let capacity: Int
    private let reserved = Mutex(0)

    public init(capacity: Int) {
        self.capacity = capacity
    }

    /// Bytes reserved now.
    public var inUse: Int { reserved.withLock { $0 } }

    /// Reserves `bytes` if they fit; false otherwise. No request reserves more than
    /// `--max-body-bytes`, which the budget is at least, so a body alone always fits.
    func reserve(_ bytes: Int) -> Bool {
        reserved.withLock { total in
            guard total + bytes <= capacity else { return false }
            total += bytes
            return true
        }
    }

    func release(_ bytes: Int) {
        reserved.withLock { $0 -= bytes }
    }
}

/// Applies the `BodyBudget` to every request that has a body.
struct BodyBudgetMiddleware: RouterMiddleware {
    typealias Context = IOLogRequestContext
    let budget: BodyBudget
    /// The largest body the routes behind it accept (`--max-body-bytes` for the API, the form
    /// limit for pages): what a chunked body reserves, and the size past which the handler
    /// answers 413 (so such a body reserves nothing).
    let maximumBodyBytes: Int
    /// Paths under this prefix are left to another instance further in (the API's, behind
    /// authentication).
    var skippingPrefix: String? = nil

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let skippingPrefix, request.uri.path.hasPrefix(skippingPrefix) { return try await next(request, context) }
        let declared = request.headers[.contentLength].flatMap { Int($0) }
        let chunked = request.headers[.transferEncoding] != nil
        let bytes: Int
        switch (declared, chunked) {
        case (let length?, false) where length > maximumBodyBytes: return try await next(request, context)
        case (let length?, false): bytes = length
        case (_, true): bytes = maximumBodyBytes
        case (nil, false): bytes = 0
        }
        guard bytes > 0 else { return try await next(request, context) }
        guard budget.reserve(bytes) else { throw APIError.bodiesInFlight }
        defer { budget.release(bytes) }
        return try await next(request, context)
    }
}

extension APIError {
    static let bodiesInFlight = APIError(
        status: .serviceUnavailable,
        code: "overloaded",
        message: "too many request bodies are being received at once; retry shortly",
        headers: [.retryAfter: "1"]
    )
}
