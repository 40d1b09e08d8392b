import Synchronization

/// Shopify's leaky bucket, one per access token: each request adds one unit, the bucket leaks
/// `leakRate` units per second (fractionally, on the monotonic clock), and a request that would
/// overflow it is refused with the time until one unit has leaked.
final class LeakyBucket: Sendable {
    struct Outcome: Equatable {
        let accepted: Bool
        /// Units in the bucket after this request, as `X-Shopify-Shop-Api-Call-Limit` reports them.
        let used: Int
        /// Seconds until the request would be accepted; set when it was not.
        let retryAfter: Double?
    }

    let size: Int
    /// Units per second; 0 disables rate limiting.
    let leakRate: Double
    private let levels = Mutex<[String: (level: Double, at: ContinuousClock.Instant)]>([:])

    init(size: Int, leakRate: Double) {
        self.size = max(1, size)
        self.leakRate = leakRate
    }

    /// Charges one request to `key`'s bucket. With rate limiting disabled every request is accepted
    /// and reported as `1/size`.
    func take(key: String, now: ContinuousClock.Instant = .now) -> Outcome {
        guard leakRate > 0 else { return Outcome(accepted: true, used: 1, retryAfter: nil) }
        return levels.withLock { levels in
            if levels.count > 10_000 { prune(&levels, now: now) }
            var level = levels[key].map { max(0, $0.level - leakRate * Self.seconds(now - $0.at)) } ?? 0
            let accepted = level + 1 <= Double(size)
            if accepted { level += 1 }
            levels[key] = (level, now)
            // Rounded up, so a client never sees room that is not there.
            let used = min(size, Int(level.rounded(.up)))
            return Outcome(
                accepted: accepted,
                used: used,
                retryAfter: accepted ? nil : (level + 1 - Double(size)) / leakRate
            )
        }
    }

    /// Forgets buckets that have drained, so requests with ever-new tokens cannot grow memory.
    private func prune(_ levels: inout [String: (level: Double, at: ContinuousClock.Instant)], now: ContinuousClock.Instant) {
        levels = levels.filter { $0.value.level - leakRate * Self.seconds(now - $0.value.at) > 0 }
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }
}
