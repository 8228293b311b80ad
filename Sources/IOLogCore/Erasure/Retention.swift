import Foundation

/// How long generations are kept (DESIGN §2 rule 5): at least three calendar months (UTC),
/// or without limit. Anything shorter is refused when the value is parsed, so a service can
/// never start with it.
public struct RetentionPolicy: Sendable, Equatable, CustomStringConvertible {
    /// The shortest retention iolog accepts, in calendar months.
    public static let minimumMonths = 3
    /// The default: the minimum.
    public static let `default` = RetentionPolicy(validatedMonths: minimumMonths)
    public static let unlimited = RetentionPolicy(validatedMonths: nil)

    /// Calendar months, or nil for unlimited.
    public let months: Int?

    private init(validatedMonths: Int?) { months = validatedMonths }

    /// `N` (N ≥ 3) or `unlimited`.
    public init(parsing text: String) throws(IOLogError) {
        if text == "unlimited" {
            self = .unlimited
            return
        }
        guard let months = Int(text) else {
            throw .invalidInput("--retention-months must be a whole number of months (3 or more) or unlimited, not \(text)")
        }
        guard months >= Self.minimumMonths else {
            throw .invalidInput(
                "--retention-months \(months) is shorter than the three months iolog promises to keep generations; use 3 or more, or unlimited"
            )
        }
        guard months <= 1200 else { throw .invalidInput("--retention-months \(months) is more than 100 years; use unlimited") }
        self.init(validatedMonths: months)
    }

    public var description: String { months.map { "\($0) months" } ?? "unlimited" }

    /// The retention a one-off purge (`iolog retention run`) applies: the one asked for, or else
    /// the one `serve` recorded, or else the default. Asking for a shorter one than `serve`
    /// records is refused: it would purge what the deployment promises to keep.
    public static func forPurge(requested: RetentionPolicy?, recorded: RetentionPolicy?) throws(IOLogError) -> RetentionPolicy {
        guard let requested else { return recorded ?? .default }
        if let recorded, requested.isShorter(than: recorded) {
            throw .refused(
                "--retention-months \(requested.months.map(String.init) ?? "unlimited") is shorter than the retention this "
                    + "deployment runs with (\(recorded), recorded by iolog serve); leave it out to use that"
            )
        }
        return requested
    }

    /// True when this keeps generations for less time than `other` (unlimited is the longest).
    public func isShorter(than other: RetentionPolicy) -> Bool {
        switch (months, other.months) {
        case (let mine?, let theirs?): mine < theirs
        case (_?, nil): true
        case (nil, _): false
        }
    }

    /// Generations created before this moment have been kept their full retention: `now` minus
    /// N calendar months in UTC. Subtracting from now (rather than adding to each `created_at`)
    /// can only keep a generation longer at month ends, never shorter. Nil when unlimited.
    public func cutoff(now: Timestamp) -> Timestamp? {
        guard let months else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let nowDate = Date(timeIntervalSince1970: Double(now.micros) / 1_000_000)
        guard let cutoff = calendar.date(byAdding: .month, value: -months, to: nowDate) else { return nil }
        // Keep the microseconds of `now`, which Date arithmetic may round.
        let whole = Int64(cutoff.timeIntervalSince1970.rounded(.down))
        return Timestamp(micros: whole * 1_000_000 + now.micros % 1_000_000)
    }
}

/// What a retention purge removed (or, on a dry run, would remove).
public struct RetentionReport: Sendable, Equatable {
    public let policy: RetentionPolicy
    public let cutoff: Timestamp?
    public let rows: Int
    /// Rows per account.
    public let accounts: [String: Int]
    public let dryRun: Bool
}

/// Removes generations older than the retention, in small batches so ingest is not held up
/// (each batch is its own short transaction; the writer interleaves ingest commits between them).
public struct RetentionPurge: Sendable {
    /// Rows per transaction.
    public static let batchSize = 500

    private let store: any LogStore
    private let policy: RetentionPolicy
    private let clock: Clock

    public init(store: any LogStore, policy: RetentionPolicy, clock: Clock) {
        self.store = store
        self.policy = policy
        self.clock = clock
    }

    /// Runs the purge once. Writes one `retention.purge` audit event with the counts, unless it
    /// is a dry run, or nothing was removed and `auditWhenNothing` is false (the periodic run).
    public func run(dryRun: Bool = false, actor: String, auditWhenNothing: Bool = true) async throws -> RetentionReport {
        let now = Timestamp(micros: clock.nowMicros())
        guard let cutoff = policy.cutoff(now: now) else {
            return RetentionReport(policy: policy, cutoff: nil, rows: 0, accounts: [:], dryRun: dryRun)
        }
        if dryRun {
            let accounts = try await store.purgeableCounts(before: cutoff)
            return RetentionReport(policy: policy, cutoff: cutoff, rows: accounts.values.reduce(0, +), accounts: accounts, dryRun: true)
        }
        var accounts: [String: Int] = [:]
        while true {
            let removed = try await store.purgeBatch(before: cutoff, limit: Self.batchSize)
            accounts.merge(removed, uniquingKeysWith: +)
            // Until a batch finds nothing: an engine may remove more or fewer than a batch at once
            // (PostgreSQL drops a whole month's partition).
            if removed.isEmpty { break }
            try await Task.sleep(for: DeletionService.pauseBetweenBatches)
        }
        let rows = accounts.values.reduce(0, +)
        if rows > 0 || auditWhenNothing {
            var detail: [String: JSONValue] = [
                "cutoff": .string(cutoff.rfc3339),
                "retention": .string(policy.description),
                "rows": .integer(Int64(rows)),
            ]
            detail["accounts"] = .object(accounts.mapValues { .integer(Int64($0)) })
            try await store.appendAudit(
                AuditEvent(
                    occurredAt: Timestamp(micros: clock.nowMicros()),
                    actor: actor,
                    action: "retention.purge",
                    detail: JSONValue.object(detail).canonicalText
                )
            )
        }
        return RetentionReport(policy: policy, cutoff: cutoff, rows: rows, accounts: accounts, dryRun: false)
    }
}
