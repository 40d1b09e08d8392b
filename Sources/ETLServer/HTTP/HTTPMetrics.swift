import Synchronization

/// Request counts by route and status, and latency histograms by route, for `/metrics`.
/// Routes are the matched route patterns, so the label set stays small whatever clients ask for.
final class HTTPMetrics: Sendable {
    /// Upper bounds of the latency buckets, in seconds.
    static let buckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

    private struct Route {
        var requestsByStatus: [Int: Int] = [:]
        /// Non-cumulative: `bucketCounts[i]` counts latencies in (buckets[i-1], buckets[i]]; the last slot is +Inf.
        var bucketCounts = [Int](repeating: 0, count: HTTPMetrics.buckets.count + 1)
        var secondsSum = 0.0
        var count = 0

        mutating func record(status: Int, bucket: Int, seconds: Double) {
            requestsByStatus[status, default: 0] += 1
            bucketCounts[bucket] += 1
            secondsSum += seconds
            count += 1
        }
    }

    private let routes = Mutex<[String: Route]>([:])

    func record(route: String, status: Int, seconds: Double) {
        let bucket = Self.buckets.firstIndex { seconds <= $0 } ?? Self.buckets.count
        routes.withLock { $0[route, default: Route()].record(status: status, bucket: bucket, seconds: seconds) }
    }

    func write(to exposition: inout PrometheusExposition) {
        let snapshot = routes.withLock { $0 }.sorted { $0.key < $1.key }
        exposition.family("etl_http_requests_total", type: "counter", help: "HTTP requests answered, by route and status.")
        for (route, stats) in snapshot {
            for (status, count) in stats.requestsByStatus.sorted(by: { $0.key < $1.key }) {
                exposition.sample("etl_http_requests_total", ["route": route, "status": String(status)], Double(count))
            }
        }
        exposition.family("etl_http_request_duration_seconds", type: "histogram", help: "Time to produce a response, by route.")
        for (route, stats) in snapshot {
            var cumulative = 0
            for (index, bound) in Self.buckets.enumerated() {
                cumulative += stats.bucketCounts[index]
                exposition.sample("etl_http_request_duration_seconds_bucket", ["route": route, "le": String(bound)], Double(cumulative))
            }
            exposition.sample("etl_http_request_duration_seconds_bucket", ["route": route, "le": "+Inf"], Double(stats.count))
            exposition.sample("etl_http_request_duration_seconds_sum", ["route": route], stats.secondsSum)
            exposition.sample("etl_http_request_duration_seconds_count", ["route": route], Double(stats.count))
        }
    }
}

/// Prometheus text exposition format 0.0.4, written by hand.
struct PrometheusExposition {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"
    private(set) var text = ""

    mutating func family(_ name: String, type: String, help: String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    /// Labels in the order given (a `KeyValuePairs` keeps it).
    mutating func sample(_ name: String, _ labels: KeyValuePairs<String, String> = [:], _ value: Double) {
        text += name
        if !labels.isEmpty {
            text += "{" + labels.map { "\($0.key)=\"\(Self.escape($0.value))\"" }.joined(separator: ",") + "}"
        }
        text += " " + Self.format(value) + "\n"
    }

    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}
