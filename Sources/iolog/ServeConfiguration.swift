import ArgumentParser
import Foundation
import IOLogCore
import IOLogServer
import Logging

/// Reads each `serve` setting from its flag, else from its `IOLOG_*` variable, else its default,
/// and remembers where each value came from for the start-up summary.
struct SettingsResolver {
    enum Source: String {
        case flag
        case environment = "env"
        case `default`
    }

    struct Entry {
        let name: String
        let value: String
        let source: Source
    }

    let environment: [String: String]
    private(set) var entries: [Entry] = []

    init(environment: [String: String]) { self.environment = environment }

    /// `IOLOG_` and the flag's name in capitals, dashes as underscores: `--max-body-bytes` → `IOLOG_MAX_BODY_BYTES`.
    static func variable(_ flag: String) -> String {
        "IOLOG_" + flag.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    /// The variable of setting `name`, when it is set and not empty.
    func variableValue(_ name: String) -> String? {
        environment[Self.variable(name)].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Where a setting read elsewhere came from: its flag, else its variable, else the default.
    func source(flagGiven: Bool, _ name: String) -> Source {
        flagGiven ? .flag : variableValue(name) != nil ? .environment : .default
    }

    /// Where the summary says setting `name` came from (`.default` if it has no entry).
    func source(of name: String) -> Source {
        entries.first { $0.name == name }?.source ?? .default
    }

    /// The flag's value, else the variable's (parsed; a bad one is a usage error naming the
    /// variable), else nil.
    private func lookup<T>(_ flag: T?, _ name: String, parse: (String) -> T?) throws -> (value: T, source: Source)? {
        if let flag { return (flag, .flag) }
        guard let text = variableValue(name) else { return nil }
        guard let parsed = parse(text) else {
            throw ValidationError("\(Self.variable(name))=\(text) is not a valid value for --\(name)")
        }
        return (parsed, .environment)
    }

    /// The flag's value, else the variable's, else `fallback`. `shown` is what the summary
    /// prints (secrets masked).
    mutating func resolve<T>(
        _ flag: T?,
        _ name: String,
        default fallback: T,
        parse: (String) -> T?,
        shown: (T) -> String = { "\($0)" }
    ) throws -> T {
        let (value, source) = try lookup(flag, name, parse: parse) ?? (fallback, .default)
        entries.append(Entry(name: name, value: shown(value), source: source))
        return value
    }

    /// A setting without a default (a file path): the flag, else the variable, else nil.
    mutating func resolve(optional flag: String?, _ name: String) throws -> String? {
        let found = try lookup(flag, name) { $0 }
        entries.append(Entry(name: name, value: found?.value ?? "-", source: found?.source ?? .default))
        return found?.value
    }

    /// A boolean flag: given, or the variable set to 1/true/yes.
    mutating func resolve(flag: Bool, _ name: String) throws -> Bool {
        try resolve(flag ? true : nil, name, default: false) { text in
            switch text.lowercased() {
            case "1", "true", "yes", "on": true
            case "0", "false", "no", "off": false
            default: nil
            }
        }
    }

    /// Records a value resolved elsewhere (the storage, the master key) for the summary.
    mutating func note(_ name: String, _ value: String, _ source: Source) {
        entries.append(Entry(name: name, value: value, source: source))
    }

    /// `name=value (source)` pairs as log metadata.
    var metadata: Logger.Metadata {
        var metadata: Logger.Metadata = [:]
        for entry in entries { metadata[entry.name] = .string("\(entry.value) (\(entry.source.rawValue))") }
        return metadata
    }
}

/// Every setting `serve` runs with, resolved from flags, `IOLOG_*` variables and defaults.
struct ServeConfiguration {
    var host: String
    var port: Int
    var dev: Bool
    var demo: Bool
    var masterKeyFile: String?
    var previousMasterKeyFile: String?
    var skipRegions: [String]
    var maxBodyBytes: Int
    var maxBodyBytesInFlight: Int
    var maxConnections: Int
    var retention: RetentionPolicy
    var retentionInterval: Duration
    var keyRollover: KeyRolloverPolicy
    var logFormat: LogFormat
    var logLevel: Logger.Level
    var shutdownTimeout: Duration
    var resolver: SettingsResolver

    init(_ serve: Serve, environment: [String: String]) throws {
        var r = SettingsResolver(environment: environment)
        host = try r.resolve(serve.host, "host", default: "127.0.0.1") { $0 }
        port = try r.resolve(serve.port, "port", default: 8080) { Int($0) }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0–65535") }
        dev = try r.resolve(flag: serve.dev, "dev")
        demo = try r.resolve(flag: serve.demo, "demo")
        guard !demo || dev else { throw ValidationError("--demo only works together with --dev") }
        masterKeyFile = try r.resolve(optional: serve.masterKeyFile, "master-key-file")
        previousMasterKeyFile = try r.resolve(optional: serve.previousMasterKeyFile, "previous-master-key-file")
        skipRegions = try r.resolve(serve.skipRegions.isEmpty ? nil : serve.skipRegions, "skip-region", default: []) { text in
            text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        } shown: {
            $0.isEmpty ? "-" : $0.joined(separator: ",")
        }
        for region in skipRegions where !GenerationInput.isRegion(region) {
            throw ValidationError("--skip-region \(region): a region is a short lowercase word, like us or apac")
        }
        maxBodyBytes = try r.resolve(serve.maxBodyBytes, "max-body-bytes", default: AppDefaults.maximumBodyBytes) { Int($0) }
        guard (1...AppDefaults.maximumBodyBytesCeiling).contains(maxBodyBytes) else {
            throw ValidationError("--max-body-bytes must be from 1 to \(AppDefaults.maximumBodyBytesCeiling) (256 MiB)")
        }
        maxBodyBytesInFlight = try r.resolve(serve.maxBodyBytesInFlight, "max-body-bytes-in-flight", default: AppDefaults.bodyBudgetBytes) {
            Int($0)
        }
        guard maxBodyBytesInFlight >= maxBodyBytes, maxBodyBytesInFlight <= 1 << 40 else {
            throw ValidationError("--max-body-bytes-in-flight must be at least --max-body-bytes (\(maxBodyBytes))")
        }
        maxConnections = try r.resolve(serve.maxConnections, "max-connections", default: ConnectionLimits.default.maximumConnections) {
            Int($0)
        }
        guard maxConnections >= 16 else { throw ValidationError("--max-connections must be at least 16") }
        let months = try r.resolve(serve.retentionMonths, "retention-months", default: String(RetentionPolicy.minimumMonths)) { $0 }
        do {
            retention = try RetentionPolicy(parsing: months)
        } catch {
            throw ValidationError(error.message)
        }
        let intervalSeconds = try r.resolve(serve.retentionIntervalSeconds, "retention-interval-seconds", default: 3600) { Int($0) }
        guard intervalSeconds >= 1 else { throw ValidationError("--retention-interval-seconds must be at least 1") }
        retentionInterval = .seconds(intervalSeconds)
        let maxSeals = try r.resolve(serve.dataKeyMaxSeals, "data-key-max-seals", default: KeyRolloverPolicy.default.maximumSeals) {
            Int64($0)
        }
        guard (KeyRolloverPolicy.minimumSeals...(Int64(1) << 32)).contains(maxSeals) else {
            throw ValidationError("--data-key-max-seals must be from \(KeyRolloverPolicy.minimumSeals) to 2^32 (4294967296)")
        }
        let maxAgeDays = try r.resolve(serve.dataKeyMaxAgeDays, "data-key-max-age-days", default: 90) { Int($0) }
        guard (1...3650).contains(maxAgeDays) else { throw ValidationError("--data-key-max-age-days must be from 1 to 3650") }
        keyRollover = KeyRolloverPolicy(maximumSeals: maxSeals, maximumAgeMicros: Int64(maxAgeDays) * 86_400_000_000)
        logFormat = try r.resolve(serve.logFormat, "log-format", default: .text) {
            LogFormat(rawValue: $0)
        } shown: {
            $0.rawValue
        }
        logLevel = try r.resolve(serve.logLevel, "log-level", default: .info) {
            Logger.Level(rawValue: $0)
        } shown: {
            $0.rawValue
        }
        let shutdownSeconds = try r.resolve(serve.shutdownTimeoutSeconds, "shutdown-timeout-seconds", default: 30) { Int($0) }
        guard (1...3600).contains(shutdownSeconds) else { throw ValidationError("--shutdown-timeout-seconds must be from 1 to 3600") }
        shutdownTimeout = .seconds(shutdownSeconds)
        resolver = r
    }
}

extension LogFormat: ExpressibleByArgument {}
extension Logger.Level: @retroactive ExpressibleByArgument {}
