@testable import ETLServer
import Foundation
import Testing

/// `/metrics`: the exposition parsed as a scraper reads it. Needs no ClickHouse (a jsonl pipeline);
/// `ServerTests` checks it next to a ClickHouse sink's reports and loads.
@Suite(.serialized)
struct MetricsTests {
    @Test func requestsAreCountedByRouteAndThePipelineGaugesFollowTheStore() async throws {
        let directory = try TemporaryDirectory()
        let lineItems = try Fixtures.writeOrders(count: 2_500, to: directory.path("orders.jsonl"))
        try directory.write("p.json", Fixtures.pipeline(input: "orders.jsonl", output: "out.jsonl"))
        let run = try await Subprocess.run(["run", "p.json", "--state", "s.sqlite"], in: directory.url)
        #expect(run.status == 0, "\(run.output)")
        let server = try await ServeProcess.start(["p.json", "--state", "s.sqlite"], in: directory.url, environment: [:])

        let response = try await server.get("/metrics")
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        let before = try Exposition(response.body)
        for (family, type) in [("etl_runs", "gauge"), ("etl_latest_run_batches", "gauge"), ("etl_latest_run_records", "gauge"),
                               ("etl_latest_run_rows", "gauge"), ("etl_invalid_pipeline_files", "gauge")] {
            #expect(before.types[family] == type, "\(family)")
            #expect(before.helps[family]?.isEmpty == false, "\(family) has no help text")
        }
        #expect(before[#"etl_runs{pipeline="orders",state="completed"}"#] == 1, "\(before.text)")
        #expect(before[#"etl_latest_run_batches{pipeline="orders"}"#] == 3)  // 2,500 records, 1,000 a batch
        #expect(before[#"etl_latest_run_records{pipeline="orders"}"#] == 2_500)
        #expect(before[#"etl_latest_run_rows{pipeline="orders"}"#] == Double(lineItems))
        #expect(before["etl_invalid_pipeline_files"] == 0)
        // The scrape counts itself only once it has answered.
        #expect(before[#"etl_http_requests_total{route="/status",status="200"}"#] == nil)

        for _ in 0..<3 { #expect(try await server.get("/status").status == 200) }
        #expect(try await server.get("/nowhere").status == 404)
        let second = try await Subprocess.run(["run", "p.json", "--state", "s.sqlite"], in: directory.url)
        #expect(second.status == 0, "\(second.output)")

        let after = try Exposition(try await server.get("/metrics").body)
        #expect(after.types["etl_http_requests_total"] == "counter")
        #expect(after.types["etl_http_request_duration_seconds"] == "histogram")
        #expect(after[#"etl_http_requests_total{route="/status",status="200"}"#] == 3, "\(after.text)")
        #expect(after[#"etl_http_requests_total{route="/metrics",status="200"}"#] == 1)
        #expect(after[#"etl_http_requests_total{route="unmatched",status="404"}"#] == 1)
        #expect(after[#"etl_http_request_duration_seconds_count{route="/status"}"#] == 3)
        #expect(after[#"etl_http_request_duration_seconds_bucket{route="/status",le="+Inf"}"#] == 3)
        #expect((after[#"etl_http_request_duration_seconds_sum{route="/status"}"#] ?? 0) > 0)
        let buckets = HTTPMetrics.buckets.map { after[#"etl_http_request_duration_seconds_bucket{route="/status",le="\#($0.bucketRepresentation)"}"#] }
        #expect(!buckets.contains(nil) && buckets.map { $0 ?? 0 } == buckets.map { $0 ?? 0 }.sorted(), "not cumulative: \(buckets)")
        // Computed at each scrape: the second run is there.
        #expect(after[#"etl_runs{pipeline="orders",state="completed"}"#] == 2)

        let third = try Exposition(try await server.get("/metrics").body)
        #expect(third[#"etl_http_requests_total{route="/metrics",status="200"}"#] == 2)
        #expect(third[#"etl_http_requests_total{route="/status",status="200"}"#] == 3)
        #expect(await server.stop().status == 0)
    }

    @Test func aLabelSetThatNoLongerAppliesDisappears() throws {
        let gauges = ScrapedGauges()
        func scrape(_ samples: [GaugeSample]) throws -> Exposition {
            var buffer: [UInt8] = []
            gauges.emit(samples, into: &buffer)
            return try Exposition(buffer)
        }
        func runs(_ state: String, _ count: Double) -> GaugeSample {
            GaugeSample(name: "etl_runs", help: "Runs.", labels: [("pipeline", "p"), ("state", state)], value: count)
        }
        let expected = GaugeSample(name: "etl_latest_run_expected_records", help: "Expected.", labels: [("pipeline", "p")], value: 12_000)

        let first = try scrape([runs("completed", 1), runs("running", 1), expected])
        #expect(first[#"etl_runs{pipeline="p",state="running"}"#] == 1)
        #expect(first[#"etl_runs{pipeline="p",state="completed"}"#] == 1)
        #expect(first[#"etl_latest_run_expected_records{pipeline="p"}"#] == 12_000)

        let second = try scrape([runs("completed", 2)])
        #expect(second[#"etl_runs{pipeline="p",state="running"}"#] == nil, "\(second.text)")
        #expect(second[#"etl_runs{pipeline="p",state="completed"}"#] == 2)
        #expect(second.types["etl_latest_run_expected_records"] == nil, "a family without series is left out: \(second.text)")

        let third = try scrape([runs("running", 1)])
        #expect(third[#"etl_runs{pipeline="p",state="running"}"#] == 1)
        #expect(third[#"etl_runs{pipeline="p",state="completed"}"#] == nil)
        #expect(third.samples.count == 1)
    }

    @Test func latencyBucketsKeepTheirLabels() throws {
        let metrics = HTTPMetrics()
        metrics.record(route: "/r", status: 200, duration: .microseconds(700))
        metrics.record(route: "/r", status: 200, duration: .milliseconds(30))
        metrics.record(route: "/r", status: 503, duration: .seconds(3))
        var buffer: [UInt8] = []
        metrics.emit(into: &buffer)
        let exposition = try Exposition(buffer)
        // The `le` values the hand-written exposition had (String(Double)), so dashboards keep working.
        let bounds = ["0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "+Inf"]
        let counts = bounds.map { exposition[#"etl_http_request_duration_seconds_bucket{route="/r",le="\#($0)"}"#] }
        #expect(counts == [0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3], "\(exposition.text)")
        #expect(exposition[#"etl_http_request_duration_seconds_sum{route="/r"}"#] == 3.0307)
        #expect(exposition[#"etl_http_request_duration_seconds_count{route="/r"}"#] == 3)
        #expect(exposition[#"etl_http_requests_total{route="/r",status="200"}"#] == 2)
        #expect(exposition[#"etl_http_requests_total{route="/r",status="503"}"#] == 1)
    }
}

/// A Prometheus text exposition (format 0.0.4) read as a scraper reads it: every sample after its
/// family's `# TYPE` line, no series twice, every value a number.
struct Exposition {
    let text: String
    /// By series as written: the name, then the labels in braces, if any.
    private(set) var samples: [String: Double] = [:]
    private(set) var types: [String: String] = [:]
    private(set) var helps: [String: String] = [:]

    init(_ body: [UInt8]) throws {
        text = String(decoding: body, as: UTF8.self)
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") || line.hasPrefix("# HELP ") {
                let parts = line.split(separator: " ", maxSplits: 3)
                guard parts.count == 4 else { throw TestFailure("malformed: \(line)") }
                if parts[1] == "TYPE" { types[String(parts[2])] = String(parts[3]) } else { helps[String(parts[2])] = String(parts[3]) }
                continue
            }
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                throw TestFailure("not a sample: \(line)")
            }
            let series = String(line[..<space])
            let name = String(series.prefix { $0 != "{" })
            let family = ["_bucket", "_sum", "_count"].lazy.filter { name.hasSuffix($0) }.map { String(name.dropLast($0.count)) }
                .first { types[$0] == "histogram" } ?? name
            guard types[family] != nil else { throw TestFailure("\(series) comes before a # TYPE line of \(family)") }
            guard samples.updateValue(value, forKey: series) == nil else { throw TestFailure("\(series) twice") }
        }
    }

    subscript(series: String) -> Double? { samples[series] }
}
