/// Paces requests from Shopify's `X-Shopify-Shop-Api-Call-Limit: used/size` header so that a long
/// extraction runs at the bucket's leak rate without filling it.
///
/// The bucket's size comes with every response, its leak rate does not (2/s for a 40 bucket on
/// standard plans, 20/s for 400 on Plus, but stores and stand-ins differ). The pacer starts from the
/// documented ratio, size/20 per second, and replaces it with what it observes: over a window of
/// responses, the units that leaked are `used at start + requests sent - used now`. Before each
/// request it predicts the current level from the last response and the leak rate, and waits only
/// if the request would push the bucket past `size - headroom`.
///
/// Pure: times are passed in, so it is tested without a clock.
struct CallLimitPacer {
    /// Units kept free for requests the pacer does not see (other clients of the same app).
    static let headroom = 2.0
    /// Observation windows shorter than this are too noisy to estimate the leak rate from.
    static let minimumWindow: Duration = .milliseconds(500)

    private(set) var capacity: Double?
    private(set) var leakPerSecond: Double?
    private var level: Double = 0
    private var levelAt: ContinuousClock.Instant?
    private var window: (start: ContinuousClock.Instant, used: Double, requests: Int)?

    /// How long to wait before sending the next request at `now`.
    func delay(at now: ContinuousClock.Instant) -> Duration {
        guard let capacity, let leakPerSecond, let levelAt, leakPerSecond > 0 else { return .zero }
        let predicted = max(0, level - leakPerSecond * seconds(now - levelAt))
        let excess = predicted + 1 - (capacity - Self.headroom)
        return excess > 0 ? .seconds(excess / leakPerSecond) : .zero
    }

    /// Records a response's call-limit header, read at `now`.
    mutating func observe(used: Int, capacity: Int, at now: ContinuousClock.Instant) {
        let used = Double(used)
        if self.capacity != Double(capacity) {
            self.capacity = Double(capacity)
            leakPerSecond = leakPerSecond ?? Double(capacity) / 20
            window = nil
        }
        level = used
        levelAt = now
        guard var window else {
            self.window = (now, used, 0)
            return
        }
        window.requests += 1
        let elapsed = now - window.start
        let leaked = window.used + Double(window.requests) - used
        if elapsed >= Self.minimumWindow, leaked >= 3 {
            leakPerSecond = leaked / seconds(elapsed)
        }
        // Restart the window now and then so the estimate follows a changing rate.
        self.window = elapsed > .seconds(20) ? (now, used, 0) : window
    }

    /// A 429: the bucket is full now. The leak estimate was too high if the pacer let this happen.
    mutating func throttled(at now: ContinuousClock.Instant) {
        if let capacity { level = capacity }
        levelAt = now
        leakPerSecond = leakPerSecond.map { $0 * 0.9 }
        window = nil
    }

    private func seconds(_ duration: Duration) -> Double {
        duration / .seconds(1)
    }
}
