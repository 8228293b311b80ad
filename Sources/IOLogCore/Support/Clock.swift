import Foundation

/// Where iolog reads the time; tests inject a fixed or moving clock.
public struct Clock: Sendable {
    private let now: @Sendable () -> Date

    public init(now: @escaping @Sendable () -> Date) { self.now = now }

    /// The wall clock.
    public static let system = Clock { Date() }

    /// A clock stopped at `date`.
    public static func fixed(_ date: Date) -> Clock { Clock { date } }

    /// The current time.
    public func date() -> Date { now() }

    /// The current time in microseconds since 1970 UTC, the unit of every stored time.
    public func nowMicros() -> Int64 { Timestamp(now()).micros }
}

/// A point in time as microseconds since 1970-01-01 UTC.
public struct Timestamp: Sendable, Hashable, Comparable, Codable {
    public let micros: Int64

    public init(micros: Int64) { self.micros = micros }

    public init(_ date: Date) {
        micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
    }

    public var date: Date { Date(timeIntervalSince1970: Double(micros) / 1_000_000) }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.micros < rhs.micros }

    /// RFC 3339 in UTC with microseconds, e.g. `2026-11-22T07:00:00.123000Z`.
    public var rfc3339: String {
        let seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
        let fraction = micros - seconds * 1_000_000
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        let year = Int(parts.tm_year) + 1900
        guard (0...9999).contains(year) else {
            return String(
                format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
                year,
                Int(parts.tm_mon) + 1,
                Int(parts.tm_mday),
                Int(parts.tm_hour),
                Int(parts.tm_min),
                Int(parts.tm_sec),
                Int(fraction)
            )
        }
        // Written digit by digit: `String(format:)` cost a quarter of a list page's CPU.
        var text = [UInt8](repeating: 0, count: 27)
        func put(_ value: Int, at offset: Int, digits: Int) {
            var rest = value
            for position in stride(from: offset + digits - 1, through: offset, by: -1) {
                text[position] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            }
        }
        put(year, at: 0, digits: 4)
        put(Int(parts.tm_mon) + 1, at: 5, digits: 2)
        put(Int(parts.tm_mday), at: 8, digits: 2)
        put(Int(parts.tm_hour), at: 11, digits: 2)
        put(Int(parts.tm_min), at: 14, digits: 2)
        put(Int(parts.tm_sec), at: 17, digits: 2)
        put(Int(fraction), at: 20, digits: 6)
        text[4] = UInt8(ascii: "-")
        text[7] = UInt8(ascii: "-")
        text[10] = UInt8(ascii: "T")
        text[13] = UInt8(ascii: ":")
        text[16] = UInt8(ascii: ":")
        text[19] = UInt8(ascii: ".")
        text[26] = UInt8(ascii: "Z")
        return String(decoding: text, as: UTF8.self)
    }
}
