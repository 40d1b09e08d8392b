/// Exponential backoff with jitter, bounded by total time: how long to wait before retry `n`, and
/// when to give up.
public struct RetryPolicy: Sendable {
    public var initialDelay: Duration
    public var maximumDelay: Duration
    /// Give up once this much time has passed since the first failure of a request.
    public var giveUpAfter: Duration

    public init(initialDelay: Duration = .milliseconds(500), maximumDelay: Duration = .seconds(30), giveUpAfter: Duration = .seconds(300)) {
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
        self.giveUpAfter = giveUpAfter
    }

    /// The wait before retry `attempt` (1 for the first retry): `initialDelay · 2^(attempt-1)`,
    /// capped, then scaled by a random factor in [0.5, 1] so that many clients do not retry in step.
    public func delay(beforeRetry attempt: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        let exponent = min(max(attempt - 1, 0), 30)
        let uncapped = initialDelay * (1 << exponent)
        let capped = min(uncapped, maximumDelay)
        return capped * Double.random(in: 0.5...1, using: &generator)
    }

    /// Whether another retry fits in the budget, `elapsed` after the first failure.
    public func allowsRetry(elapsed: Duration, nextDelay: Duration) -> Bool {
        elapsed + nextDelay <= giveUpAfter
    }
}
