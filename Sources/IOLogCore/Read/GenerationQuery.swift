import Foundation

/// Filters of the Logs list and export (DESIGN §4.2). Every combination is served by an index.
public struct GenerationFilter: Sendable, Equatable {
    public var model: String?
    public var provider: String?
    public var userID: String?
    public var sessionID: String?
    /// Inclusive lower bound on `created_at`.
    public var from: Timestamp?
    /// Exclusive upper bound on `created_at`.
    public var to: Timestamp?

    public init(
        model: String? = nil,
        provider: String? = nil,
        userID: String? = nil,
        sessionID: String? = nil,
        from: Timestamp? = nil,
        to: Timestamp? = nil
    ) {
        self.model = model
        self.provider = provider
        self.userID = userID
        self.sessionID = sessionID
        self.from = from
        self.to = to
    }

    /// The filters of a list or export query: `query` gives a parameter's value (nil when absent
    /// or empty). With `daysAllowed` (the Logs page's date inputs), `from` and `to` may also be
    /// plain dates: `from` a day means its start, `to` a day means through its end (UTC).
    public init(query: (String) -> String?, daysAllowed: Bool = false) throws(FieldError) {
        self.init()
        for (name, keyPath) in [("model", \GenerationFilter.model), ("provider", \.provider)] {
            if let text = query(name) {
                guard text.utf8.count <= GenerationInput.maximumLabelLength else {
                    throw FieldError(field: name, message: "\(name) must be at most \(GenerationInput.maximumLabelLength) bytes")
                }
                self[keyPath: keyPath] = text
            }
        }
        for (name, keyPath) in [("user_id", \GenerationFilter.userID), ("session_id", \.sessionID)] {
            if let id = query(name) {
                guard Identifier.isValid(id) else {
                    throw FieldError(field: name, message: "\(name) must be 1–128 characters of A-Z a-z 0-9 . _ : -")
                }
                self[keyPath: keyPath] = id
            }
        }
        for (name, keyPath) in [("from", \GenerationFilter.from), ("to", \.to)] {
            if let text = query(name) {
                if daysAllowed, text.utf8.count == 10, let day = RFC3339.parse(text + "T00:00:00Z") {
                    self[keyPath: keyPath] = name == "to" ? Timestamp(micros: day.micros + 86_400_000_000) : day
                    continue
                }
                guard let time = RFC3339.parse(text) else {
                    throw FieldError(field: name, message: "\(name) must be an RFC 3339 timestamp\(daysAllowed ? " or a date (YYYY-MM-DD)" : "")")
                }
                self[keyPath: keyPath] = time
            }
        }
        if let from, let to, from >= to {
            throw FieldError(field: "to", message: "to must be after from")
        }
    }

    /// The equality filters that are set, by column: each has its `generations_by_*` index.
    var equalities: [(column: String, value: String)] {
        [("model", model), ("provider", provider), ("user_id", userID), ("session_id", sessionID)].compactMap { column, value in
            value.map { (column, $0) }
        }
    }

    /// A `limit` parameter: a whole number from 1 to `ReadService.maximumPageSize`.
    public static func pageLimit(_ text: String?, default defaultLimit: Int) throws(FieldError) -> Int {
        guard let text else { return defaultLimit }
        guard let limit = Int(text), (1...ReadService.maximumPageSize).contains(limit) else {
            throw FieldError(field: "limit", message: "limit must be a whole number from 1 to \(ReadService.maximumPageSize)")
        }
        return limit
    }

    /// The filter as compact JSON, for audit events (names and times only).
    public var auditDescription: String {
        var members: [String: JSONValue] = [:]
        members["model"] = model.map(JSONValue.string)
        members["provider"] = provider.map(JSONValue.string)
        members["user_id"] = userID.map(JSONValue.string)
        members["session_id"] = sessionID.map(JSONValue.string)
        members["from"] = from.map { .string($0.rfc3339) }
        members["to"] = to.map { .string($0.rfc3339) }
        return JSONValue.object(members).canonicalText
    }
}

/// A position in the newest-first list: the last row of the previous page.
///
/// Keyset pagination on `(created_at, id)`: a page starts strictly after the cursor, so rows
/// inserted meanwhile never shift a page (no duplicates, no gaps), unlike OFFSET.
public struct ListCursor: Sendable, Equatable {
    public let createdAt: Timestamp
    public let id: String

    public init(createdAt: Timestamp, id: String) {
        self.createdAt = createdAt
        self.id = id
    }

    /// Opaque to clients: base64url of `v1:<micros>:<id>`.
    public var token: String {
        let base64 = Data("v1:\(createdAt.micros):\(id)".utf8).base64EncodedString().utf8
        return String(
            decoding: base64.compactMap { byte -> UInt8? in
                switch byte {
                case UInt8(ascii: "+"): UInt8(ascii: "-")
                case UInt8(ascii: "/"): UInt8(ascii: "_")
                case UInt8(ascii: "="): nil
                default: byte
                }
            },
            as: UTF8.self
        )
    }

    /// Decodes a token made by `token`; nil for anything else.
    public init?(token: String) {
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard token.count <= 256, let data = Data(base64Encoded: base64) else { return nil }
        let parts = String(decoding: data, as: UTF8.self).split(separator: ":", maxSplits: 2)
        guard parts.count == 3, parts[0] == "v1", let micros = Int64(parts[1]), Identifier.isValid(String(parts[2])) else {
            return nil
        }
        self.init(createdAt: Timestamp(micros: micros), id: String(parts[2]))
    }
}

/// A generation's metadata, as the list shows it: no bodies.
@dynamicMemberLookup
public struct GenerationSummary: Sendable, Equatable {
    public var id: String
    public var accountID: String
    public var metadata: GenerationMetadata
    public var hasReasoning: Bool

    public subscript<T>(dynamicMember field: WritableKeyPath<GenerationMetadata, T>) -> T {
        get { metadata[keyPath: field] }
        set { metadata[keyPath: field] = newValue }
    }

    public var cursor: ListCursor { ListCursor(createdAt: metadata.createdAt, id: id) }

    public init(_ sealed: SealedGeneration) {
        id = sealed.id
        accountID = sealed.accountID
        metadata = sealed.metadata
        hasReasoning = sealed.reasoningSealed != nil
    }
}

/// A generation with its bodies opened, as the detail view shows it.
public struct GenerationDetail: Sendable, Equatable {
    public var summary: GenerationSummary
    public var prompt: OpenedBody
    public var completion: OpenedBody
    public var reasoning: OpenedBody?
}

/// An opened body: the JSON text iolog wrote when it sealed the body, authenticated by its GCM
/// tag, so it is exactly what was ingested. The API splices it into answers as it is (no tree,
/// no second encoding: memory stays about the body's size); the pages parse it.
public struct OpenedBody: Sendable, Equatable {
    public let text: [UInt8]
    let generationID: String
    let field: BodyField

    /// The body as a value, for showing it to people.
    public func value() throws -> JSONValue {
        do {
            return try JSONParser.parse(text, limits: .stored)
        } catch {
            throw IOLogError.corrupted("the \(field.rawValue) of generation \(generationID) is not valid JSON after decryption")
        }
    }
}
