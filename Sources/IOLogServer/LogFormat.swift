import Foundation
import IOLogCore
import Logging
import Synchronization

/// How `iolog serve` writes its log: one line per event on standard error.
public enum LogFormat: String, CaseIterable, Sendable {
    /// swift-log's stream handler: `2026-11-25T10:00:00+0000 info iolog: hb.request.id=… [IOLogServer] message`
    /// (local time; the request id keeps Hummingbird's key name).
    case text
    /// One JSON object per line: `time`, `level`, `label`, `message`, then the metadata.
    case json

    /// A factory for `LoggingSystem.bootstrap`.
    public func handlerFactory(level: Logger.Level, sink: any LogSink = StandardErrorSink()) -> @Sendable (String) -> any LogHandler {
        switch self {
        case .text:
            { label in TextLogHandler(label: label, logLevel: level) }
        case .json:
            { label in JSONLogHandler(label: label, sink: sink, logLevel: level) }
        }
    }
}

/// Where log lines go.
public protocol LogSink: Sendable {
    /// Writes one whole line (with its newline) so lines of concurrent events never interleave.
    func write(_ line: [UInt8])
}

/// Standard error, one `write(2)` per line under a lock.
public struct StandardErrorSink: LogSink {
    private static let lock = Mutex(())

    public init() {}

    public func write(_ line: [UInt8]) {
        Self.lock.withLock { _ in
            line.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = Foundation.write(2, buffer.baseAddress! + offset, buffer.count - offset)
                    if written <= 0 { return }
                    offset += written
                }
            }
        }
    }
}

/// swift-log's `StreamLogHandler` on standard error, with the metadata kept here and handed
/// over with each event. `StreamLogHandler` renders its metadata to text every time a key is
/// set, and every request sets a few (request id, token) on a logger that, at `info`, rarely
/// writes a line: that rendering was 2% of the CPU of an ingest. The lines are the same.
struct TextLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    private var stream: StreamLogHandler

    init(label: String, logLevel: Logger.Level) {
        stream = StreamLogHandler.standardError(label: label)
        stream.logLevel = logLevel
    }

    var logLevel: Logger.Level {
        get { stream.logLevel }
        set { stream.logLevel = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var event = event
        if !metadata.isEmpty { event.metadata = metadata.merging(event.metadata ?? [:]) { $1 } }
        stream.log(event: event)
    }
}

/// A swift-log handler writing one JSON object per line. The encoding is Foundation's
/// `JSONSerialization`; nothing here escapes by hand.
///
/// What reaches it is what iolog logs: ids, counts, codes and error messages, which by
/// construction never hold a body, a token, a key or a query string (SECURITY.md); the server
/// tests capture every line through this handler and search it for body markers and secrets.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String
    private let sink: any LogSink

    public init(label: String, sink: any LogSink, logLevel: Logger.Level = .info) {
        self.label = label
        self.sink = sink
        self.logLevel = logLevel
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var object: [String: Any] = [:]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            object[Self.key(key)] = Self.json(value)
        }
        object["time"] = Timestamp(micros: Clock.system.nowMicros()).rfc3339
        object["level"] = event.level.rawValue
        object["label"] = label
        object["message"] = event.message.description
        guard var line = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        line.append(0x0A)
        sink.write(Array(line))
    }

    /// Hummingbird names its request id `hb.request.id`; the log calls it what it is.
    private static func key(_ key: String) -> String {
        key == "hb.request.id" ? "request_id" : key
    }

    private static func json(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let text): text
        case .stringConvertible(let value): value.description
        case .array(let values): values.map(json)
        case .dictionary(let values): values.mapValues(json)
        }
    }
}
