import Synchronization

/// Faults to inject into authorised, non-throttled API requests. Rates are probabilities in 0...1.
public struct FaultConfiguration: Sendable, Equatable {
    /// Seeds the fault sequence: the same seed and the same request sequence give the same faults.
    public var seed: UInt64
    /// Share of requests answered 500, 502, 503 or 504, with a JSON or an HTML body.
    public var serverErrorRate: Double
    /// Share of `orders.json` requests with `limit` above `bigPageThreshold` answered 502 or 503.
    public var bigPageRate: Double
    public var bigPageThreshold: Int
    /// Share of requests that wait `stallSeconds` before they are answered.
    public var stallRate: Double
    public var stallSeconds: Double
    /// Share of requests answered 200 with a truncated, invalid JSON body.
    public var malformedRate: Double
    /// Share of requests whose connection is reset (TCP RST) without any response.
    public var connectionResetRate: Double
    /// Share of `page_info` next pages that start with the previous page's last order again, as a
    /// replica or cache that lags behind might serve them: order ids then stop ascending across pages.
    public var overlapRate: Double

    public init(
        seed: UInt64 = 1,
        serverErrorRate: Double = 0,
        bigPageRate: Double = 0,
        bigPageThreshold: Int = 100,
        stallRate: Double = 0,
        stallSeconds: Double = 30,
        malformedRate: Double = 0,
        connectionResetRate: Double = 0,
        overlapRate: Double = 0
    ) {
        self.seed = seed
        self.serverErrorRate = serverErrorRate
        self.bigPageRate = bigPageRate
        self.bigPageThreshold = bigPageThreshold
        self.stallRate = stallRate
        self.stallSeconds = stallSeconds
        self.malformedRate = malformedRate
        self.connectionResetRate = connectionResetRate
        self.overlapRate = overlapRate
    }
}

/// Decides each request's faults from one seeded generator.
final class FaultInjector: Sendable {
    struct Decision {
        var resetConnection = false
        var stall = false
        /// Status to fail with, whether its body is HTML, and whether it is the big-page fault.
        var failure: (status: Int, html: Bool, bigPage: Bool)?
        var malformed = false
        /// For a `page_info` next page: repeat the previous page's last order first.
        var overlap = false
    }

    let configuration: FaultConfiguration
    private let rng: Mutex<SplitMix64>

    init(_ configuration: FaultConfiguration) {
        self.configuration = configuration
        self.rng = Mutex(SplitMix64(seed: configuration.seed))
    }

    /// `limit` is the page size of an `orders.json` request, `nil` for other endpoints.
    func decide(limit: Int?) -> Decision {
        // Always the same number of draws per request, so one fault does not shift the ones after it.
        let rolls = rng.withLock { rng in (0..<7).map { _ in rng.unit() } }
        var decision = Decision()
        if rolls[0] < configuration.connectionResetRate {
            decision.resetConnection = true
            return decision
        }
        decision.stall = rolls[1] < configuration.stallRate
        let html = rolls[3] < 0.5
        if rolls[2] < configuration.serverErrorRate {
            decision.failure = ([500, 502, 503, 504][min(3, Int(rolls[4] * 4))], html, false)
        } else if let limit, limit > configuration.bigPageThreshold, rolls[5] < configuration.bigPageRate {
            decision.failure = (rolls[4] < 0.5 ? 502 : 503, html, true)
        } else {
            decision.malformed = rolls[6] < configuration.malformedRate
            // rolls[4] picks the failure status, so it is free on this branch.
            decision.overlap = rolls[4] < configuration.overlapRate
        }
        return decision
    }
}
