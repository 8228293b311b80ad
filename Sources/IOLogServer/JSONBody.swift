import Foundation
import Hummingbird
import IOLogCore

/// Reading and writing the JSON bodies of the API.
enum JSONBody {
    /// Collects and parses a JSON request body: 415 unless `Content-Type` is
    /// `application/json`, 413 past `limit` bytes, 400 if it is not JSON or exceeds the
    /// parser's limits. Errors name keys down to `namedDepth` levels (the request's own fields).
    static func read(_ request: Request, limit: Int, namedDepth: Int = 1, metrics: ServiceMetrics = .disabled) async throws -> JSONValue {
        guard let contentType = request.headers[.contentType], mediaType(contentType) == "application/json" else {
            throw APIError(status: .unsupportedMediaType, code: "unsupported_media_type", message: "send Content-Type: application/json")
        }
        // A compressed body would be read as if it were JSON text; refuse it rather than store it.
        if let encoding = request.headers[.contentEncoding], encoding.lowercased().trimmingCharacters(in: .whitespaces) != "identity" {
            throw APIError(
                status: .unsupportedMediaType,
                code: "unsupported_media_type",
                message: "Content-Encoding is not supported here; send the body uncompressed"
            )
        }
        let buffer = try await collectBuffer(request, limit: limit)
        let bytes = buffer.readableBytes
        metrics.bodyStarted(bytes: bytes)
        defer { metrics.bodyFinished(bytes: bytes) }
        var limits = JSONParser.Limits.request
        limits.namedDepth = namedDepth
        do {
            return try JSONParser.parse(buffer.readableBytesView, limits: limits)
        } catch {
            throw APIError.invalid(error)
        }
    }

    /// A request's body as it came (any type or encoding): 413 past `limit` bytes, judged on its
    /// `Content-Length` before reading when it has one.
    static func collect(_ request: Request, limit: Int, metrics: ServiceMetrics) async throws -> [UInt8] {
        let buffer = try await collectBuffer(request, limit: limit)
        metrics.bodyStarted(bytes: buffer.readableBytes)
        defer { metrics.bodyFinished(bytes: buffer.readableBytes) }
        return Array(buffer.readableBytesView)
    }

    private static func collectBuffer(_ request: Request, limit: Int) async throws -> ByteBuffer {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw tooLarge(limit)
        }
        do {
            return try await request.body.collect(upTo: limit)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            // Also NIO's too-many-bytes error: a chunked body (no Content-Length) past the limit.
            throw tooLarge(limit)
        }
    }

    /// The media type of a `Content-Type`, lowercased, without parameters or surrounding blanks.
    static func mediaType(_ contentType: String) -> String {
        var type = contentType.prefix { $0 != ";" }
        while type.first == " " || type.first == "\t" { type.removeFirst() }
        while type.last == " " || type.last == "\t" { type.removeLast() }
        return type.lowercased()
    }

    static func tooLarge(_ limit: Int) -> APIError {
        APIError(status: .contentTooLarge, code: "payload_too_large", message: "the body is larger than \(limit) bytes")
    }

    /// A JSON response with sorted keys.
    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return response(bytes: try encoder.encode(value), status: status)
    }

    /// A JSON response written by `JSONWriter`, which keeps number literals exactly and cannot
    /// fail: the answer for anything that holds content.
    static func response(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        response(bytes: value.canonicalBytes, status: status)
    }

    /// A response whose body is JSON text already written.
    static func response(bytes: some Sequence<UInt8>, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }
}
