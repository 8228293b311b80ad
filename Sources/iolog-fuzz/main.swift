// libFuzzer harnesses over iolog's parsers of untrusted bytes (`scripts/fuzz`). Built by that
// script with `--sanitize=fuzzer --sanitize=address`, which links libFuzzer's own `main`; in an
// ordinary build this program does nothing. `IOLOG_FUZZ_TARGET` picks the harness:
//
//   ingest   a request body through the strict JSON parser and the ingest validator, as
//            `POST /v1/generations` and `/batch` read it
//   sealed   a stored body through the sealed-body parser and authenticated decryption
//   cursor   a list cursor token
//   query    the list's query parameters (model, provider, user_id, from, to, limit)
//
// Beyond "no crash, no memory error" (AddressSanitizer), each checks the property its parser
// promises and traps when it breaks, which libFuzzer reports as a finding.

import Foundation
import IOLogCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: start, count: count))
    switch Harness.target {
    case "ingest": Harness.ingest(bytes)
    case "sealed": Harness.sealed(bytes)
    case "cursor": Harness.cursor(bytes)
    case "query": Harness.query(bytes)
    default: fatalError("set IOLOG_FUZZ_TARGET to ingest, sealed, cursor or query")
    }
    return 0
}

enum Harness {
    static let target = ProcessInfo.processInfo.environment["IOLOG_FUZZ_TARGET"] ?? ""
    static let now = Timestamp(micros: 1_800_000_000_000_000)

    /// Parsing never crashes; a value that parses writes canonical text that parses back to the
    /// same value (so the MAC input and the sealed text are stable); a generation that validates
    /// writes its canonical content.
    static func ingest(_ bytes: [UInt8]) {
        guard let value = try? JSONParser.parse(bytes, limits: .request) else { return }
        guard let again = try? JSONParser.parse(value.canonicalBytes, limits: .stored), again == value else {
            fatalError("canonical text does not parse back to the same value")
        }
        let items: [JSONValue]
        if case .array(let batch)? = value["generations"] { items = batch } else { items = [value] }
        for item in items {
            guard let input = try? GenerationInput.parse(item, now: now) else { continue }
            _ = input.canonicalContent
        }
    }

    static let key = try! SymmetricKey(bytes: [UInt8](repeating: 7, count: 32))
    static let plaintext = Array(#"{"role":"user","content":"fuzz"}"#.utf8)
    static let reference = try! BodyEnvelope.Sealer(key: key, version: 3, accountID: "acct")
        .seal(plaintext, generationID: "gen-1", field: .prompt)

    /// Any bytes open to the one body sealed there or fail as `corrupted`: a blob that is not
    /// the reference, byte for byte, must never open.
    static func sealed(_ input: [UInt8]) {
        // Half the inputs are mutations of a real sealed body, so the fuzzer reaches the
        // decryption and not only the layout check.
        var candidate = input
        if let first = input.first, first & 1 == 1 {
            candidate = reference
            for (offset, byte) in input.dropFirst().enumerated() { candidate[offset % candidate.count] ^= byte }
            if input.count > 1, input[1] & 0x80 != 0 { candidate = Array(candidate.prefix(Int(input[1]) % (candidate.count + 1))) }
        }
        do {
            let opened = try BodyEnvelope.open(candidate, key: key, accountID: "acct", generationID: "gen-1", field: .prompt)
            guard candidate == reference, opened == plaintext else { fatalError("a forged sealed body opened") }
        } catch {
            guard error.code == .corrupted else { fatalError("a sealed body failed other than as corrupted") }
            guard candidate != reference else { fatalError("the reference body failed to open") }
        }
    }

    /// A token either is refused or names a cursor whose own token decodes back to it.
    static func cursor(_ bytes: [UInt8]) {
        let token = String(decoding: bytes, as: UTF8.self)
        guard let cursor = ListCursor(token: token) else { return }
        guard ListCursor(token: cursor.token) == cursor else { fatalError("a cursor's token does not decode back to it") }
    }

    /// `name=value` pairs separated by `&` (already percent-decoded: decoding is the HTTP
    /// library's part); a filter that parses has `from` before `to` and labels within bounds.
    static func query(_ bytes: [UInt8]) {
        var parameters: [String: String] = [:]
        for pair in bytes.split(separator: UInt8(ascii: "&")) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(decoding: parts[0], as: UTF8.self)
            let value = parts.count > 1 ? String(decoding: parts[1], as: UTF8.self) : ""
            if !value.isEmpty { parameters[name] = value }
        }
        for daysAllowed in [false, true] {
            if let filter = try? GenerationFilter(query: { parameters[$0] }, daysAllowed: daysAllowed) {
                if let from = filter.from, let to = filter.to, from >= to { fatalError("a filter with from >= to was accepted") }
                if (filter.model?.utf8.count ?? 0) > GenerationInput.maximumLabelLength { fatalError("an overlong model filter") }
                if let user = filter.userID, !Identifier.isValid(user) { fatalError("an invalid user_id filter") }
                if let session = filter.sessionID, !Identifier.isValid(session) { fatalError("an invalid session_id filter") }
                _ = filter.auditDescription
            }
        }
        _ = try? GenerationFilter.pageLimit(parameters["limit"], default: 50)
    }
}
