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

    /// Every kind of parameter value reaches ClickHouse as the literal of its type and comes back
    /// as it was sent, on both ClickHouse lines; list and wrapped answers take the declared shape.
    @Test func parameterValuesRoundTripAsTypedLiterals() async throws {
        let clickHouse = try await ClickHouseHarness.start()
        try await clickHouse.client.execute("CREATE TABLE events (site UUID, day Date, n Int64, label String) ENGINE = Memory")
        try await clickHouse.client.execute("""
            INSERT INTO events VALUES ('0f8fad5b-d9cb-469f-a165-70867728950e', '2021-01-25', -3, 'a'), ('7c9e6679-7425-40de-944b-e07fc1f90ae7', '2021-01-26', 4, 'b'), \
            ('7c9e6679-7425-40de-944b-e07fc1f90ae7', '2021-01-27', 5, 'c')
            """)
        let text = #"""
            {"version": 1, "name": "events", "extract": {"type": "jsonl", "path": "unused.jsonl"},
             "load": {"type": "clickhouse", "url": "${CLICKHOUSE_URL}", "user": "${CLICKHOUSE_USER:-default}", "password": "${CLICKHOUSE_PASSWORD:-}",
                      "database": "${CLICKHOUSE_DATABASE:-default}", "table": "events", "columns": {"label": "String"}, "order_by": "label"},
             "reports": [{"name": "counters", "path": "/counters",
                          "parameters": {"site": {"type": "uuid", "repeated": true}, "from": {"type": "date"}, "min": {"type": "int", "default": -100},
                                         "echo": {"type": "string"}},
                          "query": "SELECT toString(day) AS time, toString(site) AS site_id, n, {echo} AS echo FROM {table} WHERE n >= {min} [[AND site IN {site}]] [[AND day >= {from}]] ORDER BY day",
                          "answer": {"wrap": "counters"}, "fields": {"time": "time", "site_id": "site_id", "n": {"column": "n", "type": "float"}, "echo": "echo"}}]}
            """#
        let directory = try TemporaryDirectory()
        try directory.write("p.json", text)
        let pipeline = try Pipeline.load(path: directory.path("p.json"), registry: StandardComponents.registry, environment: clickHouse.environment, redactor: Redactor())
        let sink = try #require(pipeline.sink as? any QueryableSink)
        let report = try #require(pipeline.reports.first)
        func answer(_ texts: [String: [String]]) async throws -> JSONValue {
            guard case .success(let arguments) = report.arguments(texts) else { throw TestFailure("refused: \(texts)") }
            let rows = try await sink.reportRows(report, arguments: arguments, mode: .replace, timeout: .seconds(10))
            return try #require(try report.answer(rows: rows, arguments: arguments))
        }
        let awkward = "it's \\ \"q\" \u{0} \n 😀 '; DROP TABLE events; --"
        let all = try await answer(["echo": [awkward]])
        guard case .array(let rows)? = all["counters"] else { throw TestFailure("\(all)") }
        #expect(rows.count == 3 && rows.allSatisfy { $0["echo"] == .string(awkward) }, "the string came back byte for byte: \(rows)")
        #expect(rows.first?["n"] == .double(-3) && rows.first?["time"] == .string("2021-01-25"))
        let filtered = try await answer(["site": ["7C9E6679-7425-40DE-944B-E07FC1F90AE7"], "from": ["2021-01-27"], "min": ["-3"]])
        #expect(filtered == .object(JSONObject([("counters", .array([.object(JSONObject([("time", .string("2021-01-27")), ("site_id", .string("7c9e6679-7425-40de-944b-e07fc1f90ae7")),
                                                                                       ("n", .double(5)), ("echo", .null)]))]))])), "\(filtered)")
        let none = try await answer(["min": ["6"]])
        #expect(none == .object(JSONObject([("counters", .array([]))])))
        #expect(try await clickHouse.rows("SELECT count() FROM events") == [["3"]])
    }
}
