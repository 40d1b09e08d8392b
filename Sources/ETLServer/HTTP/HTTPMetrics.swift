import Prometheus
import Synchronization

/// Request counts by route and status, and latency histograms by route, for `/metrics`, in a
/// collector registry of this server's own (`ReportServer.run` makes one `HTTPMetrics` per server).
/// Routes are the matched route patterns, so the label set stays small whatever clients ask for.
///
/// Prometheus's own types, not swift-metrics' `Counter` and `Timer` over a `PrometheusMetricsFactory`:
/// nothing global is bootstrapped (`MetricsSystem.bootstrap` may run once per process, and tests
/// start several servers in one), and the factory registers every metric without help text, so the
/// `# HELP` lines of these two families would go (and registering them with help text as well is a
/// fatal help-text mismatch in the registry).
final class HTTPMetrics: Sendable {
    /// Upper bounds of the latency buckets.
    static let buckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500),
    ]

    private struct Series: Hashable {
        let route: String
        let status: Int
    }

    private let registry = PrometheusCollectorRegistry()
    /// The registry's metrics by route and status, so that a request costs one lookup here rather
    /// than two name-and-label validations and lookups in the registry.
    private let series = Mutex<[Series: (requests: Counter, duration: DurationHistogram)]>([:])

    func record(route: String, status: Int, duration: Duration) {
        let metrics = series.withLock { series in
            if let metrics = series[Series(route: route, status: status)] { return metrics }
            let metrics = (
                requests: registry.makeCounter(
                    descriptor: MetricNameDescriptor("etl_http_requests_total", help: "HTTP requests answered, by route and status."),
                    labels: [("route", route), ("status", String(status))]),
                duration: registry.makeDurationHistogram(
                    descriptor: MetricNameDescriptor("etl_http_request_duration_seconds", help: "Time to produce a response, by route."),
                    labels: [("route", route)], buckets: Self.buckets))
            series[Series(route: route, status: status)] = metrics
            return metrics
        }
        metrics.requests.increment()
        metrics.duration.record(duration)
    }

    /// Appends the exposition of the requests recorded so far to `buffer`.
    func emit(into buffer: inout [UInt8]) {
        registry.emit(into: &buffer)
    }
}
