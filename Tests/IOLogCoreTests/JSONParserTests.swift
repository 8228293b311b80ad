import Foundation
import Testing

@testable import IOLogCore

@Suite("JSON parsing and writing")
struct JSONParserTests {
    private func parse(_ text: String, _ limits: JSONParser.Limits = .request) throws(FieldError) -> JSONValue {
        try JSONParser.parse(Array(text.utf8), limits: limits)
    }

    private func rejection(_ text: String, _ limits: JSONParser.Limits = .request) -> FieldError? {
        do {
            _ = try parse(text, limits)
            return nil
        } catch {
            return error
        }
    }

    @Test("what it reads comes back equal, numbers to the digit")
    func roundTrip() throws {
        let text = #"{"a":[1,-0,0.5,1e400,12345678901234567890,-1.25E-7,true,false,null],"b":"tab\tquote\" é 😀 \u0000","c":{}}"#
        let value = try parse(text)
        guard case .array(let numbers)? = value["a"] else {
            Issue.record("not an array")
            return
        }
        #expect(numbers[4] == .number(JSONNumber(validatedLiteral: "12345678901234567890")))
        #expect(numbers[3] == .number(JSONNumber(validatedLiteral: "1e400")))
        #expect(value["b"] == .string("tab\tquote\" é 😀 \u{0}"))
        #expect(
            value.canonicalText
                == #"{"a":[1,-0,0.5,1e400,12345678901234567890,-1.25E-7,true,false,null],"b":"tab\tquote\" é 😀 \u0000","c":{}}"#
        )
        #expect(try parse(value.canonicalText) == value)
        // Foundation reads the writer's output too (standard JSON), except numbers no double holds.
        let plain = try parse(#"{"b":"tab\tquote\" é 😀 \u0000","n":[-0,0.5,-1.25E-7]}"#)
        #expect(try JSONSerialization.jsonObject(with: Data(plain.canonicalBytes)) is [String: Any])
    }

    @Test("keys are sorted and control characters escaped, so equal values give equal bytes")
    func canonicalForm() throws {
        #expect(try parse(#"{ "b" : 1 , "a" : [ ] }"#).canonicalText == #"{"a":[],"b":1}"#)
        #expect(JSONValue.string("\u{1}\n\u{7f}/").canonicalText == #""\u0001\n\#u{7f}/""#)
        #expect(JSONValue.double(.nan) == .null)
        #expect(JSONValue.double(0.004125).canonicalText == "0.004125")
        #expect(JSONValue.double(3).canonicalText == "3")
    }

    @Test("a duplicate key is refused, named only as deep as the request's own fields")
    func duplicateKeys() {
        let top = rejection(#"{"routing":{"region":"global"},"routing":{"region":"eu"}}"#)
        #expect(top?.field == "routing")
        #expect(top?.message.contains("same key twice") == true)
        let nested = rejection(#"{"routing":{"region":"global","region":"eu"}}"#)
        #expect(nested?.field == "routing")
        // Keys inside content are never named: they are the content.
        let content = rejection(#"{"prompt":{"my secret key":1,"my secret key":2}}"#)
        #expect(content?.field == "prompt")
        #expect(content?.message.contains("secret") == false)
        var batch = JSONParser.Limits.request
        batch.namedDepth = 3
        #expect(rejection(#"{"generations":[{},{"usage":{},"usage":{}}]}"#, batch)?.field == "generations[1].usage")
    }

    @Test("nesting and the number of values are bounded while reading")
    func limits() {
        let deep = String(repeating: "[", count: 511) + String(repeating: "]", count: 511)
        let tooDeep = rejection(#"{"reasoning":\#(deep)}"#)
        #expect(tooDeep?.field == "reasoning")
        #expect(tooDeep?.message.contains("deeper than 128") == true)
        #expect(rejection(String(repeating: "[", count: 1_000_000)) != nil)
        let limits = JSONParser.Limits(depth: 10, values: 100)
        #expect(rejection("[" + Array(repeating: "0", count: 99).joined(separator: ",") + "]", limits) == nil)
        #expect(rejection("[" + Array(repeating: "0", count: 100).joined(separator: ",") + "]", limits)?.message.contains("more than 100") == true)
    }

    @Test(
        "malformed text is refused without quoting it",
        arguments: [
            "", "   ", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "+1", "-", "1e", "NaN", "Infinity", "tru", "nul", "[1 2]", "{\"a\" 1}",
            "{1:2}", "\"abc", "\"\\x\"", "\"\\u12\"", "[1]x", "\"a\tb\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"",
            "\"secret\u{1}\"",
        ]
    )
    func malformed(_ text: String) {
        let error = rejection(text)
        #expect(error != nil)
        #expect(error?.message.contains("secret") == false)
    }

    @Test("a number is an integer only when its digits say so, never because it rounds to one")
    func exactIntegers() throws {
        let cases: [(String, Int64?)] = [
            ("12", 12), ("-7", -7), ("0", 0), ("-0", 0), ("12.0", 12), ("1.2e1", 12), ("1.20E+1", 12), ("120e-1", 12),
            ("0.0e5", 0), ("0e99999", 0), ("9007199254740993", 9_007_199_254_740_993), ("9007199254740993.0", 9_007_199_254_740_993),
            ("1e-400", nil), ("1.0000000000000000001", nil), ("0.5", nil), ("1e400", nil), ("12.5e0", nil),
            ("92233720368547758070", nil), ("1e18", 1_000_000_000_000_000_000), ("1e19", nil),
        ]
        for (literal, expected) in cases {
            guard case .number(let number) = try JSONValue.parse(Array(literal.utf8)) else {
                Issue.record("\(literal) is not a number")
                continue
            }
            #expect(number.exactInteger == expected, "\(literal)")
        }
        // So a count that only rounds to an integer is refused.
        let body = #"{"id":"g","account_id":"a","created_at":"2026-01-01T00:00:00Z","model":"m","provider":"p","prompt":1,"completion":1,"#
        for field in [#""latency_ms":1e-400"#, #""usage":{"prompt_tokens":1.0000000000000000001}"#, #""usage":{"completion_tokens":2.5}"#] {
            let value = try JSONValue.parse(Array((body + field + "}").utf8))
            #expect(throws: FieldError.self, "\(field)") { try GenerationInput.parse(value, now: Timestamp(micros: 1_800_000_000_000_000)) }
        }
        let rounded = try JSONValue.parse(Array((body + #""latency_ms":8.3e2}"#).utf8))
        #expect(try GenerationInput.parse(rounded, now: Timestamp(micros: 1_800_000_000_000_000)).latencyMilliseconds == 830)
    }

    @Test("invalid UTF-8 is refused: stray bytes, overlong forms, encoded surrogates, past U+10FFFF")
    func invalidUTF8() {
        for bytes: [UInt8] in [[0xFF], [0xC0, 0xAF], [0xE0, 0x80, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xC3]] {
            let text: [UInt8] = [0x22] + bytes + [0x22]
            #expect(throws: FieldError.self) { try JSONParser.parse(text, limits: .request) }
            let escaped: [UInt8] = Array(#"["\n","#.utf8) + text + [0x5D]
            #expect(throws: FieldError.self) { try JSONParser.parse(escaped, limits: .request) }
        }
        #expect((try? parse(#""\ud83d\ude00""#)) == .string("😀"))
    }

    @Test("different bodies never share canonical bytes (nothing collapses to null)")
    func distinctBodiesStayDistinct() throws {
        let deep = { (leaf: String) in String(repeating: "[", count: 100) + leaf + String(repeating: "]", count: 100) }
        let one = try parse(deep("\"one\""))
        let two = try parse(deep("\"two\""))
        #expect(one.canonicalBytes != two.canonicalBytes)
        #expect(one.depth == 100)
    }
}

@Suite("Canonical text written fast is the same text")
struct CanonicalWriterTests {
    /// The writer before it copied runs of plain bytes whole: one byte at a time.
    private static func reference(_ text: String) -> [UInt8] {
        var out: [UInt8] = [0x22]
        for byte in text.utf8 {
            switch byte {
            case 0x22: out += Array("\\\"".utf8)
            case 0x5C: out += Array("\\\\".utf8)
            case 0x0A: out += Array("\\n".utf8)
            case 0x0D: out += Array("\\r".utf8)
            case 0x09: out += Array("\\t".utf8)
            case 0x08: out += Array("\\b".utf8)
            case 0x0C: out += Array("\\f".utf8)
            case 0..<0x20: out += Array(String(format: "\\u%04x", byte).utf8)
            default: out.append(byte)
            }
        }
        return out + [0x22]
    }

    @Test("strings with every control character, quotes, backslashes and non-ASCII text are escaped as before")
    func stringsMatchTheByteByByteWriter() {
        let alphabet = (0..<0x80).map { Character(Unicode.Scalar(UInt8($0))) } + ["é", "漢", "🙂", "\u{2028}"]
        var generator = SystemRandomNumberGenerator()
        var samples = ["", "plain", "\"", "\\", "a\u{0}b", String(alphabet)]
        for _ in 0..<500 {
            samples.append(String((0..<Int.random(in: 0..<40, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }))
        }
        for sample in samples {
            var writer = JSONWriter()
            writer.write(string: sample)
            #expect(writer.bytes == Self.reference(sample), "\(sample.debugDescription)")
        }
    }

    @Test("the content MAC input composed from pre-written bodies is the canonical text of the whole object")
    func canonicalContentIsTheWholeObject() throws {
        let item = try JSONValue.parse(
            Array(
                """
                {"id":"g-1","account_id":"org","created_at":"2026-11-22T07:00:00Z","model":"m\\"x","provider":"p",
                 "routing":{"region":"us"},"user_id":"u1","usage":{"prompt_tokens":3},"cost_usd":0.5,
                 "prompt":[{"role":"user","content":"hi \\u0001 \\"there\\""}],"completion":"ok","reasoning":{"b":1,"a":[2]}}
                """.utf8
            )
        )
        let input = try GenerationInput.parse(item, now: Timestamp(micros: 1_800_000_000_000_000))
        let whole: JSONValue = .object([
            "id": .string("g-1"), "account_id": .string("org"), "created_at": .integer(input.metadata.createdAt.micros),
            "m.model": .string("m\"x"), "m.provider": .string("p"), "m.region": .string("us"), "user_id": .string("u1"),
            "prompt_tokens": .integer(3), "cost_usd": .double(0.5), "prompt": input.prompt, "completion": input.completion,
            "reasoning": try #require(input.reasoning),
        ])
        #expect(input.canonicalContent == whole.canonicalBytes)
    }
}

@Suite("Timestamps as text")
struct TimestampTextTests {
    @Test("rfc3339 written digit by digit matches the formatted text, before 1970 too")
    func matchesFormattedText() {
        var generator = SystemRandomNumberGenerator()
        let samples: [Int64] =
            [0, -1, 1, 999_999, -1_000_000, 253_402_300_799_999_999, -62_135_596_800_000_000]
            + (0..<500).map { _ in Int64.random(in: -2_000_000_000_000_000...4_000_000_000_000_000, using: &generator) }
        for micros in samples {
            let seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
            var time = time_t(seconds)
            var parts = tm()
            gmtime_r(&time, &parts)
            let expected = String(
                format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
                Int(parts.tm_year) + 1900,
                Int(parts.tm_mon) + 1,
                Int(parts.tm_mday),
                Int(parts.tm_hour),
                Int(parts.tm_min),
                Int(parts.tm_sec),
                Int(micros - seconds * 1_000_000)
            )
            #expect(Timestamp(micros: micros).rfc3339 == expected)
        }
    }

    @Test("a list cursor's token is base64url without padding and reads back")
    func cursorTokens() throws {
        for id in ["a", "ab", "abc", "gen-???", "x.y:z_w-1"] where Identifier.isValid(id) {
            let cursor = ListCursor(createdAt: Timestamp(micros: 1_764_000_000_123_456), id: id)
            #expect(!cursor.token.contains("=") && !cursor.token.contains("+") && !cursor.token.contains("/"))
            let read = try #require(ListCursor(token: cursor.token))
            #expect(read.createdAt == cursor.createdAt && read.id == id)
        }
    }
}
