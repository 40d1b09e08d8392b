import Prometheus
import Synchronization

/// One sample of a gauge that `/metrics` computes at scrape time.
struct GaugeSample: Sendable {
    let name: String
    let help: String
    /// In the order the exposition shows them.
    let labels: [(String, String)]
    let value: Double
}

/// The gauges computed from the checkpoint store and the report caches on every scrape, in a
/// collector registry of their own (one per server: `MetricsController` makes it).
///
/// A label set that no longer applies disappears: each scrape sets the gauges of the samples it
/// computed and unregisters every series that the previous scrape set and this one did not (a run
/// state the pipeline no longer has, the latest run's expected records once a run announces none,
/// a report no longer declared). So the exposition is exactly what the store said at the scrape,
/// as it was when it was written by hand: never a stale value, and never a 0 that would read as a
/// real count. A family whose last series goes is left out, `# HELP` and `# TYPE` lines included.
final class ScrapedGauges: Sendable {
    private struct Series: Hashable {
        let name: String
        /// Label names and values, alternating.
        let labels: [String]

        init(_ sample: GaugeSample) {
            name = sample.name
            labels = sample.labels.flatMap { [$0.0, $0.1] }
        }
    }

    private let registry = PrometheusCollectorRegistry()
    /// The series the last scrape set. The lock also keeps a scrape's update and emission together,
    /// so that a concurrent scrape cannot unregister a series between the two.
    private let series = Mutex<[Series: Gauge]>([:])

    /// Sets the gauges to `samples`, drops the series they no longer have, and appends the
    /// registry's exposition to `buffer`.
    func emit(_ samples: [GaugeSample], into buffer: inout [UInt8]) {
        let text = series.withLock { current in
            var next: [Series: Gauge] = [:]
            for sample in samples {
                let gauge = registry.makeGauge(descriptor: MetricNameDescriptor(sample.name, help: sample.help), labels: sample.labels)
                gauge.set(to: sample.value)
                next[Series(sample)] = gauge
            }
            for (key, gauge) in current where next[key] == nil {
                registry.unregisterGauge(gauge)
            }
            current = next
            var text: [UInt8] = []
            registry.emit(into: &text)
            return text
        }
        buffer.append(contentsOf: text)
    }
}
