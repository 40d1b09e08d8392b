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

/// What to do about one failure of a retried operation.
public enum RetryDecision: Sendable, Equatable {
    /// Not worth retrying: the failure goes to the caller as it is.
    case fail
    /// Retry after the policy's backoff.
    case retry
    /// Retry after this long (the server said so, e.g. `Retry-After`).
    case retryAfter(Duration)
}

extension RetryPolicy {
    /// The one retry loop of every connector: runs `operation` until it succeeds; after a failure
    /// that `decide` says is worth retrying, waits the backoff (or what the decision says) and runs
    /// it again, until `giveUpAfter` has passed since the first failure. Then `exhausted` makes the
    /// error that is thrown (it should say what to check). `onRetry` is told of each retry before
    /// the wait, e.g. to log it or to ask for less next time.
    public func run<T>(
        isolation: isolated (any Actor)? = #isolation,
        _ operation: () async throws -> T,
        retryingWhen decide: (any Error) -> RetryDecision,
        onRetry: (_ error: any Error, _ attempt: Int, _ delay: Duration) -> Void = { _, _, _ in },
        exhausted: (_ error: any Error, _ attempts: Int, _ elapsed: Duration) -> any Error
    ) async throws -> T {
        var random = SystemRandomNumberGenerator()
        let clock = ContinuousClock()
        var firstFailure: ContinuousClock.Instant?
        var attempt = 0
        while true {
            do {
                return try await operation()
            } catch {
                let decision = decide(error)
                guard decision != .fail else { throw error }
                attempt += 1
                let since = firstFailure ?? clock.now
                firstFailure = since
                let delay: Duration
                if case .retryAfter(let asked) = decision { delay = asked } else { delay = self.delay(beforeRetry: attempt, using: &random) }
                let elapsed = clock.now - since
                guard allowsRetry(elapsed: elapsed, nextDelay: delay) else { throw exhausted(error, attempt, elapsed) }
                onRetry(error, attempt, delay)
                try await Task.sleep(for: delay)
            }
        }
    }
}
