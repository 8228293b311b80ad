import Hummingbird
import NIOCore
import Synchronization

/// How many failed sign-ins and failed API authentications one client address may make: a
/// burst, then one more per refill interval (a token bucket per address).
public struct AuthFailurePolicy: Sendable {
    /// Failures allowed at once from a fresh address.
    public var burst: Int
    /// Time after which one more failure is allowed.
    public var refill: Duration

    public init(burst: Int, refill: Duration) {
        self.burst = burst
        self.refill = refill
    }

    /// 30 failures at once, then one every 2 seconds: far more than a person mistyping or a
    /// client with a stale token makes before noticing, far less than a scan needs.
    public static let `default` = AuthFailurePolicy(burst: 30, refill: .seconds(2))
}

/// Counts authentication failures per client address. A failure beyond the address's budget is
/// answered 429 with `Retry-After` instead of 401.
///
/// Only failures are limited: the credential is always checked first, and a valid token or a
/// successful sign-in goes through whatever its address did before. So a gateway that shares its
/// address (a NAT, a proxy) with a misbehaving client is never locked out. Tokens are 256-bit
/// random values, so the limit is not what protects them from guessing; it bounds the work and
/// the log noise one address can cause, and tells a broken client to back off.
///
/// IPv6 addresses count by their /64 prefix, which one host can rotate through freely. The table
/// is bounded: past `capacity` addresses, those whose budget has refilled are dropped, then the
/// oldest.
final class AuthFailureLimiter: Sendable {
    private struct Bucket {
        var available: Double
        var updated: ContinuousClock.Instant
    }

    private let policy: AuthFailurePolicy
    private let capacity: Int
    private let buckets = Mutex<[ClientKey: Bucket]>([:])

    init(policy: AuthFailurePolicy, capacity: Int = 65_536) {
        self.policy = policy
        self.capacity = capacity
    }

    /// Records one failure from `address`. Nil while the address is within its budget; past it,
    /// how long until the next failure would be within it again.
    func fail(from address: SocketAddress?, now: ContinuousClock.Instant = .now) -> Duration? {
        let key = ClientKey(address)
        let refillSeconds = Self.seconds(policy.refill)
        return buckets.withLock { buckets -> Duration? in
            var bucket = buckets[key] ?? Bucket(available: Double(policy.burst), updated: now)
            let elapsed = Self.seconds(bucket.updated.duration(to: now))
            bucket.available = min(Double(policy.burst), bucket.available + elapsed / refillSeconds)
            bucket.updated = now
            let wait: Duration?
            if bucket.available >= 1 {
                bucket.available -= 1
                wait = nil
            } else {
                wait = .seconds((1 - bucket.available) * refillSeconds)
            }
            if buckets[key] == nil && buckets.count >= capacity { prune(&buckets, now: now, refillSeconds: refillSeconds) }
            buckets[key] = bucket
            return wait
        }
    }

    /// Addresses tracked now (for tests).
    var trackedAddresses: Int { buckets.withLock { $0.count } }

    private func prune(_ buckets: inout [ClientKey: Bucket], now: ContinuousClock.Instant, refillSeconds: Double) {
        let burst = Double(policy.burst)
        buckets = buckets.filter { $0.value.available + Self.seconds($0.value.updated.duration(to: now)) / refillSeconds < burst }
        if buckets.count >= capacity, let oldest = buckets.min(by: { $0.value.updated < $1.value.updated })?.key {
            buckets[oldest] = nil
        }
    }

    private static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// What a client address counts as: an IPv4 address, an IPv6 /64 prefix, or "unknown" (no
/// socket address, e.g. a Unix socket or an in-process test).
private struct ClientKey: Hashable {
    let bytes: [UInt8]

    init(_ address: SocketAddress?) {
        switch address {
        case .v4(let v4):
            bytes = withUnsafeBytes(of: v4.address.sin_addr.s_addr) { Array($0) }
        case .v6(let v6):
            bytes = [6] + withUnsafeBytes(of: v6.address.sin6_addr) { Array($0.prefix(8)) }
        default:
            bytes = []
        }
    }
}

extension APIError {
    /// Too many failed authentications from this address (`AuthFailureLimiter`).
    static func tooManyFailures(retryAfter: Duration) -> APIError {
        APIError(
            status: .tooManyRequests,
            code: "too_many_requests",
            message: "too many failed authentications from this address; retry later",
            headers: [.retryAfter: AuthFailureLimiter.retryAfterText(retryAfter)]
        )
    }
}

extension AuthFailureLimiter {
    /// Whole seconds, rounded up, at least 1.
    static func retryAfterText(_ wait: Duration) -> String {
        String(max(1, Int(seconds(wait).rounded(.up))))
    }
}
