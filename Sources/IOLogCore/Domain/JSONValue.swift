/// Any JSON value, as posted by the gateway. Bodies (`prompt`, `completion`, `reasoning`)
/// are kept as JSON so an admin reads back exactly what was ingested (equal as JSON, numbers
/// to the digit).
///
/// iolog parses and writes JSON itself (`JSONParser`, `JSONWriter`) rather than through
/// Foundation's coders: those accept duplicate keys (the first wins), turn large integers into
/// doubles, build the whole tree before any limit applies, and put the values they fail on
/// into their error descriptions.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// An integer.
    public static func integer(_ value: Int64) -> JSONValue { .number(JSONNumber(value)) }

    /// A finite double; `null` for NaN and infinities, which JSON cannot express.
    public static func double(_ value: Double) -> JSONValue { JSONNumber(value).map(JSONValue.number) ?? .null }

    /// Parses JSON text with `JSONParser.Limits.request`. The error never quotes the input.
    public static func parse(_ bytes: some Collection<UInt8>) throws(FieldError) -> JSONValue {
        try JSONParser.parse(bytes, limits: .request)
    }

    /// Sorted keys, no insignificant whitespace: equal values give equal bytes. Writing cannot
    /// fail: numbers are validated literals and strings are Unicode scalars.
    public var canonicalBytes: [UInt8] {
        var writer = JSONWriter()
        writer.write(self)
        return writer.bytes
    }

    /// `canonicalBytes` as a string (audit details, stored id lists).
    public var canonicalText: String { String(decoding: canonicalBytes, as: UTF8.self) }

    /// Two-space indented, sorted keys: for people.
    public var prettyText: String {
        var writer = JSONWriter(indent: true)
        writer.write(self)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// The member `key` of an object, nil otherwise.
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// How many arrays and objects deep the value nests (a scalar is 0).
    public var depth: Int {
        switch self {
        case .array(let items): 1 + (items.lazy.map(\.depth).max() ?? 0)
        case .object(let members): 1 + (members.values.lazy.map(\.depth).max() ?? 0)
        default: 0
        }
    }
}

extension JSONValue: Encodable {
    /// For the few `Encodable` answers that embed a small value (audit details). Content goes
    /// through `JSONWriter`, which keeps number literals exactly.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value):
            if let integer = value.int64Value {
                try container.encode(integer)
            } else {
                try container.encode(value.doubleValue ?? 0)
            }
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

/// A JSON number, kept as the literal text it was sent as, so `12345678901234567890` comes
/// back as sent rather than as the nearest double.
public struct JSONNumber: Sendable, Hashable, CustomStringConvertible {
    /// The number as JSON text (RFC 8259 grammar).
    public let literal: String

    /// A literal the parser has already checked against the grammar.
    init(validatedLiteral: String) { literal = validatedLiteral }

    public init(_ value: Int64) { literal = String(value) }

    /// Nil for NaN and infinities.
    public init?(_ value: Double) {
        guard value.isFinite else { return nil }
        if value == value.rounded(), abs(value) < 9e15 {
            literal = String(Int64(value))
        } else {
            literal = "\(value)"
        }
    }

    /// The value if the literal is an integer that fits 64 bits.
    public var int64Value: Int64? { Int64(literal) }

    /// The nearest double, nil if it overflows.
    public var doubleValue: Double? {
        guard let value = Double(literal), value.isFinite else { return nil }
        return value
    }

    /// The value if the literal is exactly an integer that fits 64 bits, in any notation
    /// (`12`, `12.0`, `1.2e1`, `-0`); nil otherwise. Decided on the decimal digits, never on a
    /// rounded double: `1e-400` and `1.0000000000000000001` are not integers.
    public var exactInteger: Int64? {
        if let value = Int64(literal) { return value }
        var text = Substring(literal)
        let negative = text.first == "-"
        if negative { text = text.dropFirst() }
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            // An exponent too large for Int only ever makes a value too large (or a zero).
            guard let value = Int(text[text.index(after: e)...].replacing("+", with: "")), abs(value) < 1_000 else {
                return text[..<e].allSatisfy({ $0 == "0" || $0 == "." }) ? 0 : nil
            }
            exponent = value
            text = text[..<e]
        }
        let point = text.firstIndex(of: ".")
        let whole = point.map { text[..<$0] } ?? text
        let fraction = point.map { text[text.index(after: $0)...] } ?? ""
        let digits = Array(whole + fraction)
        let integerCount = whole.count + exponent
        // Every digit past the decimal point (after the exponent moves it) must be zero.
        guard digits.dropFirst(max(0, integerCount)).allSatisfy({ $0 == "0" }) else { return nil }
        guard integerCount > 0 else { return 0 }
        let integerDigits = String(digits.prefix(integerCount)) + String(repeating: "0", count: max(0, integerCount - digits.count))
        guard let magnitude = Int64(integerDigits) else { return nil }
        return negative ? -magnitude : magnitude
    }

    public var description: String { literal }
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
