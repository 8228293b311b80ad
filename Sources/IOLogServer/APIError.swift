import Foundation
import Hummingbird
import IOLogCore
import Logging
import NIOHTTP1

/// An error answered as the contract's JSON shape:
/// `{"error": {"code": "...", "message": "...", "field": "..."}}`.
struct APIError: HTTPResponseError {
    let status: HTTPResponse.Status
    let code: String
    let message: String
    var field: String? = nil
    var headers: HTTPFields = [:]

    private struct Body: Encodable {
        struct Detail: Encodable {
            let code: String
            let message: String
            let field: String?
        }
        let error: Detail
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(Body(error: .init(code: code, message: message, field: field)))
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}

extension APIError {
    static func unauthorized(_ message: String) -> APIError {
        APIError(status: .unauthorized, code: "unauthorized", message: message, headers: [.wwwAuthenticate: "Bearer"])
    }

    static func invalid(_ error: FieldError) -> APIError {
        APIError(status: .badRequest, code: "invalid_request", message: error.message, field: error.field)
    }

    /// The same answer for an unknown account and for one the caller does not belong to.
    static let accountNotFound = APIError(status: .notFound, code: "not_found", message: "no such account")

    /// The database cannot be reached or written for now (`StorageFailure`).
    static let storageUnavailable = APIError(
        status: .serviceUnavailable,
        code: "unavailable",
        message: "the database cannot be reached or written right now; nothing was stored; retry shortly",
        headers: [.retryAfter: "5"]
    )

    static let overloaded = APIError(
        status: .serviceUnavailable,
        code: "overloaded",
        message: "the write queue is full; retry shortly",
        headers: [.retryAfter: "1"]
    )
}

/// Turns every error that is not already an `APIError` into the JSON error shape, so clients
/// never see an HTML or plain-text error. Unknown errors become a 500 whose message says
/// nothing about the cause.
///
/// An error's description is data: Swift's `EncodingError` and `DecodingError` quote the value
/// they failed on, which can be a decrypted prompt. So the log line names the error's type and,
/// for iolog's own errors, its code, and never interpolates the error itself.
struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as IOLogError where error.isContentUnavailable {
            // Names the generation and field, never content; the key material is not in the message either.
            context.logger.error("stored content unavailable", metadata: ["reason": "\(error.message)"])
            throw APIError(status: .internalServerError, code: "content_unavailable", message: error.message)
        } catch is CommitQueueFull {
            // A commit queue (ingest, or the audit of content reads) is full: push back.
            throw APIError.overloaded
        } catch let error as any StorageFailure where error.isUnavailability {
            // A full disk, a read-only file, the database server down: retried later, never a 500.
            context.logger.error("storage unavailable", metadata: .describing(error))
            throw APIError.storageUnavailable
        } catch is HTTPParserError {
            // A malformed chunk size or framing, or a client that hung up mid-body: the request
            // is not valid HTTP, which is the client's fault, not the server's.
            context.logger.info("malformed request body framing")
            throw APIError(status: .badRequest, code: "invalid_request", message: "the request is not valid HTTP/1.1 (malformed body framing)")
        } catch let error as HTTPError {
            throw APIError(status: error.status, code: Self.code(for: error.status), message: error.body ?? error.status.reasonPhrase)
        } catch let error as any HTTPResponseError {
            // NIO's too-many-bytes error (a chunked body past the limit) and the like: keep the status.
            throw APIError(status: error.status, code: Self.code(for: error.status), message: error.status.reasonPhrase)
        } catch {
            context.logger.error("unhandled error", metadata: .describing(error))
            throw APIError(status: .internalServerError, code: "internal", message: "internal error")
        }
    }

    static func code(for status: HTTPResponse.Status) -> String {
        switch status {
        case .badRequest: "invalid_request"
        case .unauthorized: "unauthorized"
        case .forbidden: "forbidden"
        case .notFound: "not_found"
        case .methodNotAllowed: "method_not_allowed"
        case .conflict: "conflict"
        case .contentTooLarge: "payload_too_large"
        case .unsupportedMediaType: "unsupported_media_type"
        case .serviceUnavailable: "overloaded"
        default: "error"
        }
    }
}

extension IOLogError {
    /// Stored content that cannot be shown (a body that fails to open, a destroyed or missing
    /// key): the API answers 500 `content_unavailable`, the pages a "Content unavailable" page.
    var isContentUnavailable: Bool { code == .corrupted || code == .keyUnavailable }
}

extension Logger.Metadata {
    /// What may be logged of an error: its type, and the code of iolog's own errors. Never the
    /// error itself: an error's description is data (see `APIErrorMiddleware`).
    static func describing(_ error: any Error) -> Logger.Metadata {
        var metadata: Logger.Metadata = ["error_type": "\(String(reflecting: type(of: error)))"]
        if let error = error as? IOLogError { metadata["error_code"] = "\(error.code)" }
        // The database's own code says what failed (never a value): SQLSTATE or SQLite's code.
        if let error = error as? PostgresError { metadata["sqlstate"] = "\(error.sqlState)" }
        if let error = error as? DatabaseError { metadata["sqlite_code"] = "\(error.extendedCode)" }
        return metadata
    }
}
