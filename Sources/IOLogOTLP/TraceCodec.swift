import Foundation
import IOLogCore
import SwiftProtobuf

/// The two encodings of OTLP/HTTP: binary protobuf and the OTLP flavour of protobuf's JSON.
public enum TraceEncoding: Sendable {
    case protobuf
    case json

    /// From a media type (lowercase, no parameters); nil for anything else.
    public init?(mediaType: String) {
        switch mediaType {
        case "application/x-protobuf": self = .protobuf
        case "application/json": self = .json
        default: return nil
        }
    }

    public var contentType: String {
        switch self {
        case .protobuf: "application/x-protobuf"
        case .json: "application/json"
        }
    }
}

/// Decodes export requests and encodes their answers, through swift-protobuf only.
public enum TraceCodec {
    /// Why a body could not be read; says nothing of its content.
    public struct Undecodable: Error, Sendable {
        public let message: String
    }

    /// Nesting bound for both decoders: attribute values may nest (arrays, key-value lists).
    static let depthLimit = 64

    public static func decodeRequest(_ bytes: [UInt8], as encoding: TraceEncoding) throws(Undecodable) -> ExportTraceServiceRequest {
        do {
            switch encoding {
            case .protobuf:
                var options = BinaryDecodingOptions()
                options.messageDepthLimit = depthLimit
                options.discardUnknownFields = true
                return try ExportTraceServiceRequest(serializedBytes: bytes, options: options)
            case .json:
                var options = JSONDecodingOptions()
                options.messageDepthLimit = depthLimit
                // Exporters send fields this subset of the schema leaves out (events, links, flags).
                options.ignoreUnknownFields = true
                var request = try ExportTraceServiceRequest(jsonUTF8Bytes: bytes, options: options)
                repairHexIdentifiers(&request)
                return request
            }
        } catch {
            throw Undecodable(message: "the body is not an OTLP ExportTraceServiceRequest in \(encoding.contentType)")
        }
    }

    /// OTLP/JSON writes trace and span ids as hex, where protobuf's JSON mapping (which
    /// swift-protobuf follows) reads bytes as base64. Hex digits are base64 letters, so a 32-digit
    /// trace id decodes without error into 24 wrong bytes (a 16-digit span id into 12); their
    /// base64 text is the hex again, which is decoded here. Ids that were base64 (16 and 8
    /// bytes) are kept.
    static func repairHexIdentifiers(_ request: inout ExportTraceServiceRequest) {
        func repaired(_ id: Data, hexLength: Int) -> Data {
            guard id.count == hexLength * 3 / 4 else { return id }
            return Hex.decode(id.base64EncodedString()).map { Data($0) } ?? id
        }
        for r in request.resourceSpans.indices {
            for s in request.resourceSpans[r].scopeSpans.indices {
                for p in request.resourceSpans[r].scopeSpans[s].spans.indices {
                    request.resourceSpans[r].scopeSpans[s].spans[p].traceID = repaired(
                        request.resourceSpans[r].scopeSpans[s].spans[p].traceID,
                        hexLength: 32
                    )
                    request.resourceSpans[r].scopeSpans[s].spans[p].spanID = repaired(
                        request.resourceSpans[r].scopeSpans[s].spans[p].spanID,
                        hexLength: 16
                    )
                    request.resourceSpans[r].scopeSpans[s].spans[p].parentSpanID = repaired(
                        request.resourceSpans[r].scopeSpans[s].spans[p].parentSpanID,
                        hexLength: 16
                    )
                }
            }
        }
    }

    /// The answer: empty when every span was taken, else `partial_success` with the count and
    /// the reasons.
    public static func encodeResponse(rejected: Int, message: String, as encoding: TraceEncoding) -> [UInt8] {
        var response = ExportTraceServiceResponse()
        if rejected > 0 {
            response.partialSuccess.rejectedSpans = Int64(rejected)
            response.partialSuccess.errorMessage = message
        }
        switch encoding {
        case .protobuf:
            return (try? response.serializedBytes()) ?? []
        case .json:
            var options = JSONEncodingOptions()
            options.alwaysPrintEnumsAsInts = true
            return Array((try? response.jsonUTF8Bytes(options: options)) ?? Array("{}".utf8))
        }
    }
}

/// Lowercase hex of bytes, and back.
enum Hex {
    static func decode(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }
}
