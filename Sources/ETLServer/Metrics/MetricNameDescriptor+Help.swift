import Prometheus

extension MetricNameDescriptor {
    /// A metric named in full (`etl_runs`, `etl_http_requests_total`), with its `# HELP` text.
    init(_ name: String, help: String) {
        self.init(metricName: name, unitName: "", helpText: help)
    }
}
