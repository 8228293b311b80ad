/// An error iolog reports to a person or a program: a stable code and a one-line message.
///
/// Messages name ids and paths, never content or key material.
public struct IOLogError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure this is; new codes can be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        public var description: String { name }

        public static let invalidInput = Code("invalid_input")
        public static let notFound = Code("not_found")
        public static let conflict = Code("conflict")
        public static let refused = Code("refused")
        public static let schemaTooNew = Code("schema_too_new")
        public static let keyUnavailable = Code("key_unavailable")
        public static let corrupted = Code("corrupted")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    static func invalidInput(_ message: String) -> IOLogError { IOLogError(.invalidInput, message) }
    static func notFound(_ message: String) -> IOLogError { IOLogError(.notFound, message) }
    static func refused(_ message: String) -> IOLogError { IOLogError(.refused, message) }
    static func schemaTooNew(_ message: String) -> IOLogError { IOLogError(.schemaTooNew, message) }
    static func keyUnavailable(_ message: String) -> IOLogError { IOLogError(.keyUnavailable, message) }
    static func corrupted(_ message: String) -> IOLogError { IOLogError(.corrupted, message) }
}
