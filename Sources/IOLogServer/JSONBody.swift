import Foundation
import Hummingbird
import IOLogCore

/// Reading and writing the JSON bodies of the API.
enum JSONBody {
    /// Collects and parses a JSON request body: 415 unless `Content-Type` is
    /// `application/json`, 413 past `limit` bytes, 400 if it is not JSON.
    static func read(_ request: Request, limit: Int) async throws -> JSONValue {
        guard let contentType = request.headers[.contentType],
            contentType.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
                == "application/json"
        else {
            throw APIError(status: .unsupportedMediaType, code: "unsupported_media_type", message: "send Content-Type: application/json")
        }
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw tooLarge(limit)
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw tooLarge(limit)
        }
        do {
            return try JSONValue.parse(buffer.readableBytesView)
        } catch {
            throw APIError.invalid(error)
        }
    }

    private static func tooLarge(_ limit: Int) -> APIError {
        APIError(status: .contentTooLarge, code: "payload_too_large", message: "the body is larger than \(limit) bytes")
    }

    /// A JSON response with sorted keys.
    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        return Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data))
        )
    }
}
