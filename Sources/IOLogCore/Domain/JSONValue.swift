import Foundation

/// Any JSON value, as posted by the gateway. Bodies (`prompt`, `completion`, `reasoning`)
/// are kept as JSON so an admin reads back exactly what was ingested (equal as JSON).
public enum JSONValue: Sendable, Equatable, Codable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// Parses JSON text. The error says only that the text is not JSON: parser messages can
    /// quote the input, and the input may be a prompt.
    public static func parse(_ bytes: some Collection<UInt8>) throws(FieldError) -> JSONValue {
        do {
            return try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
        } catch {
            throw FieldError(field: nil, message: "the body is not valid JSON")
        }
    }

    /// Sorted keys, no insignificant whitespace: equal values give equal bytes.
    public var canonicalBytes: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding a JSONValue cannot fail: every case maps to a JSON primitive or container,
        // except a non-finite double, which JSON text cannot produce in the first place.
        return Array((try? encoder.encode(self)) ?? Data("null".utf8))
    }

    /// `canonicalBytes` as a string (audit details, stored id lists).
    public var canonicalText: String { String(decoding: canonicalBytes, as: UTF8.self) }

    /// The member `key` of an object, nil otherwise.
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }
}

/// A request field that is missing or wrong. `field` is a dotted path such as
/// `usage.prompt_tokens`; the message never quotes the value.
public struct FieldError: Error, Sendable, Equatable, CustomStringConvertible {
    public let field: String?
    public let message: String

    public init(field: String?, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { message }
}
