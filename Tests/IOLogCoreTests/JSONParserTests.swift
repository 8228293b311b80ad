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
