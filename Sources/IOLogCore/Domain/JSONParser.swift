/// A strict RFC 8259 parser that enforces its limits while it reads, before any large tree
/// exists: nesting depth, the number of values, duplicate object keys (refused, because
/// parsers disagree on which one wins), invalid UTF-8, overlong encodings and lone surrogates.
///
/// Errors never quote the input. They name the field at fault only down to `namedDepth`
/// levels (the request's own field names); deeper keys belong to the content and are not named.
public struct JSONParser {
    /// How much a document may hold.
    public struct Limits: Sendable {
        /// The deepest nesting of arrays and objects.
        public var depth: Int
        /// The most values (scalars, arrays and objects) in the document.
        public var values: Int
        /// How many levels of keys an error may name (the request's own field names).
        public var namedDepth: Int

        public init(depth: Int, values: Int, namedDepth: Int = 0) {
            self.depth = depth
            self.values = values
            self.namedDepth = namedDepth
        }

        /// A request body. One value costs the tree at most about a hundred bytes, so a million
        /// bounds a body's tree to about a hundred megabytes however it is shaped.
        public static let request = Limits(depth: 128, values: 1_000_000, namedDepth: 1)

        /// A body iolog sealed itself (already within the request limits when it was ingested;
        /// the depth allows what earlier versions accepted).
        public static let stored = Limits(depth: 600, values: Int.max)
    }

    /// Parses one JSON document (surrounding whitespace allowed, nothing else).
    public static func parse(_ bytes: some Collection<UInt8>, limits: Limits) throws(FieldError) -> JSONValue {
        func read(_ buffer: UnsafeBufferPointer<UInt8>) -> Result<JSONValue, FieldError> {
            var parser = JSONParser(buffer, limits)
            return Result { () throws(FieldError) in try parser.document() }
        }
        // Contiguous bytes (ByteBuffer, Array) are read in place; anything else is copied once.
        return try (bytes.withContiguousStorageIfAvailable(read) ?? Array(bytes).withUnsafeBufferPointer(read)).get()
    }

    private let input: UnsafeBufferPointer<UInt8>
    private let limits: Limits
    private var position = 0
    private var depth = 0
    private var values = 0
    /// The named part of the path to the value being read, e.g. `["generations", "[3]", "routing"]`.
    private var path: [String] = []

    private init(_ input: UnsafeBufferPointer<UInt8>, _ limits: Limits) {
        self.input = input
        self.limits = limits
    }

    private mutating func document() throws(FieldError) -> JSONValue {
        skipWhitespace()
        let value = try parseValue()
        skipWhitespace()
        guard position == input.count else { throw invalid("unexpected text after the JSON value") }
        return value
    }

    // MARK: Values

    private mutating func parseValue() throws(FieldError) -> JSONValue {
        values += 1
        guard values <= limits.values else {
            throw FieldError(field: nil, message: "the body holds more than \(limits.values) JSON values")
        }
        guard position < input.count else { throw invalid("the JSON text ends early") }
        switch input[position] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw invalid("unexpected character")
        }
    }

    private mutating func literal(_ word: StaticString, _ value: JSONValue) throws(FieldError) -> JSONValue {
        let count = word.utf8CodeUnitCount
        guard position + count <= input.count else { throw invalid("the JSON text ends early") }
        for offset in 0..<count where input[position + offset] != word.utf8Start[offset] {
            throw invalid("unexpected character")
        }
        position += count
        return value
    }

    private mutating func enter() throws(FieldError) {
        depth += 1
        guard depth <= limits.depth else {
            throw FieldError(field: fieldName, message: "JSON nests deeper than \(limits.depth) levels")
        }
    }

    private mutating func parseArray() throws(FieldError) -> JSONValue {
        try enter()
        position += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if position < input.count, input[position] == UInt8(ascii: "]") {
            position += 1
            depth -= 1
            return .array(items)
        }
        while true {
            let named = depth <= limits.namedDepth && path.count == depth - 1
            if named { path.append("[\(items.count)]") }
            skipWhitespace()
            items.append(try parseValue())
            if named { path.removeLast() }
            skipWhitespace()
            guard position < input.count else { throw invalid("the JSON text ends early") }
            let byte = input[position]
            position += 1
            if byte == UInt8(ascii: "]") { break }
            guard byte == UInt8(ascii: ",") else { throw invalid("expected , or ] in an array") }
        }
        depth -= 1
        return .array(items)
    }

    private mutating func parseObject() throws(FieldError) -> JSONValue {
        try enter()
        position += 1
        var members: [String: JSONValue] = [:]
        skipWhitespace()
        if position < input.count, input[position] == UInt8(ascii: "}") {
            position += 1
            depth -= 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard position < input.count, input[position] == UInt8(ascii: "\"") else {
                throw invalid("expected a string key in an object")
            }
            let key = try parseString()
            skipWhitespace()
            guard position < input.count, input[position] == UInt8(ascii: ":") else {
                throw invalid("expected : after an object key")
            }
            position += 1
            skipWhitespace()
            let named = depth <= limits.namedDepth && path.count == depth - 1 && Self.isNameable(key)
            if named { path.append(key) }
            let value = try parseValue()
            if members.updateValue(value, forKey: key) != nil {
                throw FieldError(field: fieldName, message: "an object has the same key twice")
            }
            if named { path.removeLast() }
            skipWhitespace()
            guard position < input.count else { throw invalid("the JSON text ends early") }
            let byte = input[position]
            position += 1
            if byte == UInt8(ascii: "}") { break }
            guard byte == UInt8(ascii: ",") else { throw invalid("expected , or } in an object") }
        }
        depth -= 1
        return .object(members)
    }

    // MARK: Scalars

    private mutating func parseNumber() throws(FieldError) -> JSONNumber {
        let start = position
        if input[position] == UInt8(ascii: "-") { position += 1 }
        guard position < input.count, Self.isDigit(input[position]) else { throw invalid("malformed number") }
        if input[position] == UInt8(ascii: "0") {
            position += 1
        } else {
            skipDigits()
        }
        if position < input.count, input[position] == UInt8(ascii: ".") {
            position += 1
            guard position < input.count, Self.isDigit(input[position]) else { throw invalid("malformed number") }
            skipDigits()
        }
        if position < input.count, input[position] | 0x20 == UInt8(ascii: "e") {
            position += 1
            if position < input.count, input[position] == UInt8(ascii: "+") || input[position] == UInt8(ascii: "-") {
                position += 1
            }
            guard position < input.count, Self.isDigit(input[position]) else { throw invalid("malformed number") }
            skipDigits()
        }
        return JSONNumber(validatedLiteral: String(decoding: UnsafeBufferPointer(rebasing: input[start..<position]), as: UTF8.self))
    }

    private mutating func skipDigits() {
        while position < input.count, Self.isDigit(input[position]) { position += 1 }
    }

    /// Reads a string starting at its opening quote. Raw bytes are checked as UTF-8 once the
    /// string is complete; escapes are decoded, and a surrogate escape must come in a pair.
    private mutating func parseString() throws(FieldError) -> String {
        position += 1
        let start = position
        // Fast path: no escapes.
        while position < input.count {
            let byte = input[position]
            if byte == UInt8(ascii: "\"") {
                let raw = UnsafeBufferPointer(rebasing: input[start..<position])
                position += 1
                guard let text = String(validating: raw, as: UTF8.self) else { throw invalid("a string is not valid UTF-8") }
                return text
            }
            if byte == UInt8(ascii: "\\") { break }
            guard byte >= 0x20 else { throw invalid("a control character in a string must be escaped") }
            position += 1
        }
        var bytes = Array(UnsafeBufferPointer(rebasing: input[start..<position]))
        while position < input.count {
            let byte = input[position]
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                guard let text = String(validating: bytes, as: UTF8.self) else { throw invalid("a string is not valid UTF-8") }
                return text
            case UInt8(ascii: "\\"):
                try appendEscape(to: &bytes)
            case 0..<0x20:
                throw invalid("a control character in a string must be escaped")
            default:
                bytes.append(byte)
            }
        }
        throw invalid("a string is not closed")
    }

    private mutating func appendEscape(to bytes: inout [UInt8]) throws(FieldError) {
        guard position < input.count else { throw invalid("a string is not closed") }
        let byte = input[position]
        position += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): bytes.append(byte)
        case UInt8(ascii: "b"): bytes.append(0x08)
        case UInt8(ascii: "f"): bytes.append(0x0C)
        case UInt8(ascii: "n"): bytes.append(0x0A)
        case UInt8(ascii: "r"): bytes.append(0x0D)
        case UInt8(ascii: "t"): bytes.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = UInt32(try hex4())
            if (0xD800...0xDBFF).contains(scalar) {
                guard position + 1 < input.count, input[position] == UInt8(ascii: "\\"), input[position + 1] == UInt8(ascii: "u")
                else { throw invalid("a string has a lone surrogate escape") }
                position += 2
                let low = UInt32(try hex4())
                guard (0xDC00...0xDFFF).contains(low) else { throw invalid("a string has a lone surrogate escape") }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00...0xDFFF).contains(scalar) {
                throw invalid("a string has a lone surrogate escape")
            }
            guard let unicode = Unicode.Scalar(scalar) else { throw invalid("a string has an invalid escape") }
            bytes.append(contentsOf: UTF8.encode(unicode)!)
        default:
            throw invalid("a string has an invalid escape")
        }
    }

    private mutating func hex4() throws(FieldError) -> UInt16 {
        guard position + 4 <= input.count else { throw invalid("a string has an invalid escape") }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let byte = input[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw invalid("a string has an invalid escape")
            }
            value = value << 4 | UInt16(digit)
            position += 1
        }
        return value
    }

    // MARK: Helpers

    private mutating func skipWhitespace() {
        while position < input.count {
            switch input[position] {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return
            }
        }
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    /// Only keys that look like field names are ever named in an error.
    private static func isNameable(_ key: String) -> Bool {
        key.utf8.count <= 64 && Identifier.isValid(key)
    }

    /// The named path, e.g. `generations[3].routing`; nil at the top.
    private var fieldName: String? {
        guard !path.isEmpty else { return nil }
        var name = ""
        for component in path {
            if !name.isEmpty && !component.hasPrefix("[") { name += "." }
            name += component
        }
        return name
    }

    private func invalid(_ what: String) -> FieldError {
        FieldError(field: nil, message: "the body is not valid JSON: \(what) at byte \(position)")
    }
}

/// Writes JSON text: keys sorted, strings escaped only where JSON requires it, numbers as
/// their literals.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    private let indent: Bool
    private var level = 0

    public init(indent: Bool = false) { self.indent = indent }

    public mutating func write(_ value: JSONValue) {
        switch value {
        case .null: append("null")
        case .bool(let flag): append(flag ? "true" : "false")
        case .number(let number): bytes.append(contentsOf: number.literal.utf8)
        case .string(let text): write(string: text)
        case .array(let items):
            guard !items.isEmpty else { return append("[]") }
            bytes.append(UInt8(ascii: "["))
            level += 1
            for (index, item) in items.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                newline()
                write(item)
            }
            level -= 1
            newline()
            bytes.append(UInt8(ascii: "]"))
        case .object(let members):
            guard !members.isEmpty else { return append("{}") }
            bytes.append(UInt8(ascii: "{"))
            level += 1
            for (index, member) in members.sorted(by: { $0.key < $1.key }).enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                newline()
                write(string: member.key)
                append(indent ? ": " : ":")
                write(member.value)
            }
            level -= 1
            newline()
            bytes.append(UInt8(ascii: "}"))
        }
    }

    public mutating func write(string: String) {
        var text = string
        text.withUTF8 { utf8 in
            bytes.reserveCapacity(bytes.count + utf8.count + 2)
            bytes.append(UInt8(ascii: "\""))
            // Runs of bytes that need no escape are copied whole.
            var runStart = 0
            for (index, byte) in utf8.enumerated() where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
                runStart = index + 1
                escape(byte)
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
            bytes.append(UInt8(ascii: "\""))
        }
    }

    /// Appends text that is JSON already (a value written by another `JSONWriter`).
    public mutating func append(json: [UInt8]) {
        bytes.append(contentsOf: json)
    }

    private mutating func escape(_ byte: UInt8) {
        switch byte {
        case UInt8(ascii: "\""): append("\\\"")
        case UInt8(ascii: "\\"): append("\\\\")
        case 0x0A: append("\\n")
        case 0x0D: append("\\r")
        case 0x09: append("\\t")
        case 0x08: append("\\b")
        case 0x0C: append("\\f")
        default:
            let digits: StaticString = "0123456789abcdef"
            append("\\u00")
            bytes.append(digits.utf8Start[Int(byte >> 4)])
            bytes.append(digits.utf8Start[Int(byte & 0x0F)])
        }
    }

    /// Appends literal JSON syntax (also for `JSONObjectWriter`).
    fileprivate mutating func append(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    private mutating func newline() {
        guard indent else { return }
        bytes.append(0x0A)
        bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * level))
    }
}

/// Writes one JSON object whose members the caller gives in ascending key order, without
/// building a dictionary first: the same bytes `JSONWriter` writes for the equivalent
/// `JSONValue.object`, for answers written many times a second (list pages, details).
public struct JSONObjectWriter {
    private var writer = JSONWriter()
    private var lastKey: String?

    public init() {
        writer.append("{")
    }

    private mutating func key(_ key: String) {
        assert(lastKey.map { $0 < key } ?? true, "members must come in ascending key order: \(key)")
        if lastKey != nil { writer.append(",") }
        lastKey = key
        writer.write(string: key)
        writer.append(":")
    }

    /// A member with a value.
    public mutating func member(_ key: String, _ value: JSONValue) {
        self.key(key)
        writer.write(value)
    }

    /// A member whose value is JSON text written already.
    public mutating func member(_ key: String, json: [UInt8]) {
        self.key(key)
        writer.append(json: json)
    }

    /// The object's text.
    public mutating func finish() -> [UInt8] {
        writer.append("}")
        return writer.bytes
    }
}
