import ETLCore
import Foundation
import Testing

/// `etl serve` runs a scheduled pipeline on its schedule, retries a run that fails (ClickHouse
/// down) with backoff while saying so on `/status`, and goes on with the schedule once it heals.
@Suite(.serialized, .enabled(if: ClickHouseHarness.isAvailable, ClickHouseHarness.unavailableComment))
struct ScheduledServeTests {
    static func completedRuns(_ directory: TemporaryDirectory) async throws -> Int {
        try await RunStatus.statusJSON(state: "s.sqlite", in: directory).filter { $0["state"] as? String == "completed" }.count
    }

    @Test func aScheduledPipelineRunsOnItsScheduleAndARunThatFailsIsRetried() async throws {
        let clickHouse = try await ClickHouseHarness.start(privateServer: true)
        let directory = try TemporaryDirectory()
        try directory.write("in.jsonl", (0..<30).map { #"{"id": \#($0)}"# + "\n" }.joined())
        try directory.write("p.json", """
            {"version": 1, "name": "scheduled",
             "extract": {"type": "jsonl", "path": "in.jsonl", "batch_size": 10},
             "load": {"type": "clickhouse", "url": "${CLICKHOUSE_URL}", "user": "${CLICKHOUSE_USER:-default}", "password": "${CLICKHOUSE_PASSWORD:-}",
                      "database": "${CLICKHOUSE_DATABASE:-default}", "table": "ticks", "columns": {"id": "UInt64"}, "mode": "append", "max_retry_seconds": 1},
             "schedule": {"every": "1s"}}
            """)
        let server = try await ServeProcess.start(["p.json", "--state", "s.sqlite"], in: directory.url, environment: clickHouse.environment)

        var deadline = ContinuousClock.now + .seconds(30)
        while try await Self.completedRuns(directory) < 3, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        #expect(try await Self.completedRuns(directory) >= 3, "three scheduled runs completed")
        let status = try #require(try await server.status(of: "scheduled"))
        #expect(status["mode"] == .string("append"))
        #expect(status["schedule"]?["description"] == .string("every 1s"))
        #expect(status["pipeline_state"]?["cursor"]?["line"] == .int(30))
        #expect(try await clickHouse.rows("SELECT count(), uniqExact(id) FROM ticks").first == ["30", "30"], "later runs read nothing new")
        let metrics = String(decoding: try await server.get("/metrics").body, as: UTF8.self)
        #expect(metrics.contains(#"etl_pipeline_mode{pipeline="scheduled",mode="append"} 1.0"#), "\(metrics)")
        #expect(metrics.contains(#"etl_run_failures_in_a_row{pipeline="scheduled"} 0.0"#), "\(metrics)")

        // ClickHouse goes away: the next runs fail and are retried, and /status says so.
        try await clickHouse.kill()
        try directory.write("in.jsonl", (0..<45).map { #"{"id": \#($0)}"# + "\n" }.joined())
        deadline = ContinuousClock.now + .seconds(40)
        var failure: JSONValue?
        while ContinuousClock.now < deadline {
            if let error = try await server.status(of: "scheduled")?["run_error"], error != .null, case .int(let attempt)? = error["attempt"], attempt >= 2 {
                failure = error
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let retried = try #require(failure, "the failed run is retried and shown")
        let failing = String(decoding: try await server.get("/metrics").body, as: UTF8.self)
        #expect(failing.split(separator: "\n").contains { $0.hasPrefix(#"etl_run_failures_in_a_row{pipeline="scheduled"} "#) && !$0.hasSuffix(" 0.0") }, "\(failing)")
        #expect(retried["retry_at"] != .null)
        if case .string(let message)? = retried["message"] { #expect(message.contains("ClickHouse"), "\(message)") }

        // Back: the retry completes the run, which loads the new rows, and the schedule goes on.
        try await clickHouse.restart()
        let completedBefore = try await Self.completedRuns(directory)
        deadline = ContinuousClock.now + .seconds(60)
        while try await Self.completedRuns(directory) < completedBefore + 2, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(200)) }
        #expect(try await Self.completedRuns(directory) >= completedBefore + 2, "the schedule went on after the retry")
        #expect(try await clickHouse.rows("SELECT count(), uniqExact(id) FROM ticks").first == ["45", "45"])
        #expect(try await server.status(of: "scheduled")?["run_error"] == .null)
        let stopped = await server.stop()
        #expect(stopped.status == 0, "\(stopped.output)")
    }
}

/// `etl serve` follows a pipeline whose source never ends: rows appended to the log reach
/// ClickHouse within a second or two, and SIGTERM stops the run at a batch boundary.
@Suite(.serialized, .enabled(if: ClickHouseHarness.isAvailable, ClickHouseHarness.unavailableComment), SharedClickHouse())
struct FollowedServeTests {
    @Test func aContinuousPipelineIsFollowedByTheServer() async throws {
        let environment = try await SharedClickHouse.freshDatabase()
        let directory = try TemporaryDirectory()
        try directory.write("log.jsonl", (0..<10).map { #"{"id": \#($0)}"# + "\n" }.joined())
        try directory.write("p.json", """
            {"version": 1, "name": "followed",
             "extract": {"type": "jsonl", "path": "log.jsonl", "batch_size": 100, "max_batch_wait_ms": 100, "continuous": true},
             "load": {"type": "clickhouse", "url": "${CLICKHOUSE_URL}", "user": "${CLICKHOUSE_USER:-default}", "password": "${CLICKHOUSE_PASSWORD:-}",
                      "database": "${CLICKHOUSE_DATABASE:-default}", "table": "log", "columns": {"id": "UInt64"}, "mode": "append"}}
            """)
        let replace = #"{"version": 1, "name": "r", "extract": {"type": "jsonl", "path": "log.jsonl", "continuous": true}, "load": {"type": "jsonl", "path": "o.jsonl"}}"#
        try directory.write("replace.json", replace)
        let invalid = try await Subprocess.run(["validate", "replace.json"], in: directory.url)
        #expect(invalid.status == 2 && invalid.output.contains("$.load.mode"), "a continuous source needs append or merge: \(invalid.output)")

        let server = try await ServeProcess.start(["p.json", "--state", "s.sqlite"], in: directory.url, environment: environment)
        let clickHouse = clickHouseClient(for: environment)
        func count() async throws -> String { (try? await clickHouse.rows("SELECT count(), uniqExact(id) FROM log").first?.joined(separator: "/")) ?? "-" }
        var deadline = ContinuousClock.now + .seconds(20)
        while try await count() != "10/10", ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        #expect(try await count() == "10/10")
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: directory.path("log.jsonl")))
        handle.seekToEndOfFile()
        handle.write(Data((10..<25).map { #"{"id": \#($0)}"# + "\n" }.joined().utf8))
        try handle.close()
        let appended = ContinuousClock.now
        deadline = appended + .seconds(20)
        while try await count() != "25/25", ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(try await count() == "25/25")
        #expect(ContinuousClock.now - appended < .seconds(5), "appended rows arrive quickly")
        let status = try #require(try await server.status(of: "followed"))
        #expect(status["state"] == .string("running") && status["mode"] == .string("append"))
        let stopped = await server.stop()
        #expect(stopped.status == 0, "\(stopped.output)")
        let runs = try await RunStatus.statusJSON(state: "s.sqlite", in: directory)
        #expect(runs.first?["state"] as? String == "interrupted" && runs.first?["records"] as? Int == 25, "\(runs)")
    }
}
