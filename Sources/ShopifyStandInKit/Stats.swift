import Synchronization

/// Counters served at `GET /_standin/stats`, for tests and benchmarks.
public struct StandInStats: Sendable, Codable, Equatable {
    public struct Faults: Sendable, Codable, Equatable {
        public var serverError = 0
        public var bigPage = 0
        public var stall = 0
        public var malformed = 0
        public var connectionReset = 0
        public var overlap = 0

        enum CodingKeys: String, CodingKey {
            case serverError = "server_error"
            case bigPage = "big_page"
            case stall, malformed
            case connectionReset = "connection_reset"
            case overlap
        }
    }

    /// API requests received (stand-in endpoints such as this one are not counted).
    public var requests = 0
    /// Responses by HTTP status code, e.g. `["200": 12, "429": 3]`.
    public var byStatus: [String: Int] = [:]
    /// 429 responses.
    public var throttled = 0
    public var faults = Faults()
    /// Orders rendered in 200 responses of `orders.json`.
    public var ordersServed = 0
    /// Of those, orders that an earlier 200 response had already served: pages fetched twice.
    public var ordersServedAgain = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case requests
        case byStatus = "by_status"
        case throttled, faults
        case ordersServed = "orders_served"
        case ordersServedAgain = "orders_served_again"
    }
}

final class StatsRecorder: Sendable {
    private let stats = Mutex(StandInStats())
    /// Ids of every order served so far, to count repeats.
    private let served = Mutex(Set<Int>())

    var snapshot: StandInStats { stats.withLock { $0 } }

    func update(_ body: (inout StandInStats) -> Void) {
        stats.withLock { body(&$0) }
    }

    /// Records the orders of a 200 `orders.json` response.
    func recordServed(_ orderIDs: [Int]) {
        let repeated = served.withLock { set in orderIDs.filter { !set.insert($0).inserted }.count }
        stats.withLock {
            $0.ordersServed += orderIDs.count
            $0.ordersServedAgain += repeated
        }
    }

    func reset() {
        stats.withLock { $0 = StandInStats() }
        served.withLock { $0.removeAll() }
    }
}
