import ClickHouseConnector
import ETLCore
import Foundation
import Testing
@testable import etl

/// Report queries against a real ClickHouse: a query over its time limit is stopped by the server
/// and fails with what to do, rather than holding the report poller (and `/status`) while it runs.
@Suite(.serialized, .enabled(if: ClickHouseHarness.isAvailable, ClickHouseHarness.unavailableComment))
struct ReportQueryTests {
    /// A pipeline over the table `slow`, whose report sleeps two seconds per block of rows.
    static let pipeline = """
        {
          "version": 1,
          "name": "slow-report",
          "extract": {"type": "jsonl", "path": "unused.jsonl"},
          "load": {
            "type": "clickhouse", "url": "${CLICKHOUSE_URL}", "user": "${CLICKHOUSE_USER:-default}", "password": "${CLICKHOUSE_PASSWORD:-}",
            "database": "${CLICKHOUSE_DATABASE:-default}", "table": "slow", "columns": {"title": "String"}, "order_by": "title"
          },
          "reports": [{
            "name": "slow", "path": "/slow",
            "query": "SELECT title, sleep(2) AS seconds FROM {table} LIMIT {limit}",
            "limit": {"parameter": "count"}, "fields": ["title", "seconds"]
          }]
        }
        """

    @Test func aReportQueryOverItsTimeLimitIsStoppedWithAClearError() async throws {
        let clickHouse = try await ClickHouseHarness.start()
        try await clickHouse.client.execute("CREATE TABLE slow (title String) ENGINE = Memory")
        try await clickHouse.client.execute("INSERT INTO slow VALUES ('a')")
        let directory = try TemporaryDirectory()
        try directory.write("slow.json", Self.pipeline)
        let pipeline = try Pipeline.load(path: directory.path("slow.json"), registry: StandardComponents.registry,
                                         environment: clickHouse.environment, redactor: Redactor())
        let sink = try #require(pipeline.sink as? any QueryableSink)
        let report = try #require(pipeline.reports.first)

        let clock = ContinuousClock()
        let start = clock.now
        let error = await #expect(throws: ClickHouseError.self) { try await sink.reportRows(report, arguments: .none, mode: .replace, timeout: .seconds(1)) }
        #expect(clock.now - start < .seconds(6), "the query was stopped at its limit, not run to the HTTP timeout")
        let message = error.map(String.init(describing:)) ?? ""
        #expect(message.contains("report slow ran longer than 1 s") && message.contains("make the query cheaper"), "\(message)")

        let rows = try await sink.reportRows(report, arguments: .none, mode: .replace, timeout: .seconds(10))
        #expect(rows.count == 1 && rows.first?["title"] == .string("a"), "within its limit the query answers: \(rows)")
    }
}
