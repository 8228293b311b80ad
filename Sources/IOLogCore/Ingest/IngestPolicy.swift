/// Why a generation was not stored (DESIGN §2 rules 1 and 2).
public enum SkipReason: String, Sendable, Codable {
    case notOptedIn = "not_opted_in"
    case beforeOptIn = "before_opt_in"
    case euRouting = "eu_routing"
}

/// Decides whether a generation may be stored, before any of its body is touched.
public struct IngestPolicy: Sendable {
    /// Regions always skipped, whatever the configuration.
    public static let alwaysSkipped: Set<String> = ["eu"]

    /// Every region skipped: `eu` plus the operator's `--skip-region` values.
    public let skippedRegions: Set<String>

    public init(extraSkippedRegions: some Sequence<String> = []) {
        skippedRegions = Self.alwaysSkipped.union(extraSkippedRegions)
    }

    /// Nil when the generation may be stored; otherwise why not. The region rule comes
    /// first: EU traffic is skipped whatever the account's setting.
    public func skipReason(region: String, createdAt: Timestamp, account: Account?) -> SkipReason? {
        if skippedRegions.contains(region) { return .euRouting }
        guard let account, account.ioLogging.enabled, let enabledAt = account.ioLogging.enabledAt else {
            return .notOptedIn
        }
        // An erasure moves the start of what the account keeps, like turning logging on: data
        // from before it was deleted at the owner's request, so a late delivery of such a
        // generation is not stored. The contract's reason for "before the account keeps data"
        // is `before_opt_in`; a new reason value would break gateways written against it.
        if createdAt < enabledAt { return .beforeOptIn }
        if let erasedBefore = account.erasedBefore, createdAt < erasedBefore { return .beforeOptIn }
        return nil
    }
}
