import ClickHouseConnector
import Foundation
import Synchronization
import Testing

/// `append` and `merge` into ClickHouse on the real binary: SIGKILL at every failpoint of an
/// incremental run and of a following run over a file that grows while it runs; after `etl
/// resume` (or following again) every input row is in the live table exactly once. A reader of
/// a merged table never sees two rows of one key, nor misses a key that was loaded.
@Suite(.serialized, .enabled(if: ClickHouseHarness.isAvailable, ClickHouseHarness.unavailableComment), SharedClickHouse())
struct WriteModeCrashTests {
    /// Rows `{"id", "v"}`; in merge mode ids repeat (every third row updates an earlier id).
    static func rows(_ range: Range<Int>, repeating: Bool) -> [String] {
        range.map { index in
            let id = repeating && index % 3 == 2 ? index / 2 : index
            return #"{"id": \#(id), "v": "v\#(index) \"q\" \\ 😀"}"#
        }
    }

    static func pipeline(mode: String, batchSize: Int = 50) -> String {
        let modeKeys = mode == "merge" ? #""mode": "merge", "primary_key": "id""# : #""mode": "append""#
        return """
            {"version": 1, "name": "crash-\(mode)",
             "extract": {"type": "jsonl", "path": "in.jsonl", "batch_size": \(batchSize), "max_batch_wait_ms": 100},
             "load": {"type": "clickhouse", "url": "${CLICKHOUSE_URL}", "user": "${CLICKHOUSE_USER:-default}", "password": "${CLICKHOUSE_PASSWORD:-}",
                      "database": "${CLICKHOUSE_DATABASE}", "table": "t_\(mode)", "columns": {"id": "UInt64", "v": "String"},
                      \(modeKeys), "max_retry_seconds": 10}}
            """
    }

    static func append(_ lines: [String], to path: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        handle.seekToEndOfFile()
        handle.write(Data(lines.map { $0 + "\n" }.joined().utf8))
        try handle.close()
    }

    /// What the live table must hold: every row once (append), or the last row of each id (merge).
    static func expected(_ lines: [String], mode: String) throws -> [[String]] {
        var rows: [(id: UInt64, v: String)] = []
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            rows.append(((object["id"] as! NSNumber).uint64Value, object["v"] as! String))
        }
        if mode == "merge" {
            var last: [UInt64: String] = [:]
            for row in rows { last[row.id] = row.v }
            rows = last.map { ($0.key, $0.value) }
        }
        return rows.sorted { ($0.id, $0.v) < ($1.id, $1.v) }.map { [String($0.id), $0.v] }
    }

    static func live(_ environment: [String: String], mode: String) async throws -> [[String]] {
        let client = clickHouseClient(for: environment)
        return try await client.rows("SELECT id, v FROM t_\(mode)\(mode == "merge" ? " FINAL" : "") ORDER BY id, v")
    }

    @Test(arguments: ["append", "merge"])
    func anIncrementalRunKilledAtEveryFailpointLoadsEveryRowOnce(mode: String) async throws {
        let environment = try await SharedClickHouse.freshDatabase()
        let directory = try TemporaryDirectory()
        try directory.write("p.json", Self.pipeline(mode: mode))
        var lines = Self.rows(0..<1_000, repeating: mode == "merge")
        try directory.write("in.jsonl", lines.map { $0 + "\n" }.joined())
        let first = try await Subprocess.run(["run", "p.json", "--state", "s.sqlite"], in: directory.url, environment: environment)
        #expect(first.status == 0, "\(first.output)")

        let added = Self.rows(1_000..<2_000, repeating: mode == "merge")
        try Self.append(added, to: directory.path("in.jsonl"))
        lines += added
        // Each kill during the resume of the one before; batch numbers are the second run's.
        let failpoints = ["after-extract:1", "after-load:4", "after-checkpoint:9", "after-load:17", "before-complete", "after-complete"]
        for (index, failpoint) in failpoints.enumerated() {
            let command = index == 0 ? ["run", "p.json"] : ["resume", "p.json"]
            let killed = try await Subprocess.run(command + ["--state", "s.sqlite"], in: directory.url,
                                                  environment: environment.merging(["ETL_FAILPOINT": failpoint]) { $1 })
            #expect(killed.signal == SIGKILL, "expected SIGKILL at \(failpoint): \(killed.output)")
            if failpoint == "after-checkpoint:9" {
                #expect(killed.stderr.contains("batch 4 was already staged"), "the batch that landed before its checkpoint was recognised: \(killed.stderr)")
            }
        }
        let resumed = try await Subprocess.run(["resume", "p.json", "--state", "s.sqlite"], in: directory.url, environment: environment)
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(resumed.stdout.contains("1000 records read"), "the incremental run read only the added rows: \(resumed.stdout)")
        #expect(try await Self.live(environment, mode: mode) == Self.expected(lines, mode: mode))
    }

    @Test(arguments: ["append", "merge"])
    func aFollowingRunKilledAtEveryFailpointWhileItsFileGrowsLoadsEveryRowOnce(mode: String) async throws {
        let environment = try await SharedClickHouse.freshDatabase()
        let directory = try TemporaryDirectory()
        try directory.write("p.json", Self.pipeline(mode: mode, batchSize: 20))
        try directory.write("in.jsonl", "")
        let all = Self.rows(0..<800, repeating: mode == "merge")
        // The writer: 20 lines every 25 ms, in two writes each, the first ending mid-line.
        let writer = Task.detached {
            for start in stride(from: 0, to: all.count, by: 20) {
                let text = all[start..<min(start + 20, all.count)].map { $0 + "\n" }.joined()
                let cut = text.utf8.count / 2 + 3
                let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: directory.path("in.jsonl")))
                handle.seekToEndOfFile()
                handle.write(Data(text.utf8.prefix(cut)))
                try await Task.sleep(for: .milliseconds(10))
                handle.write(Data(text.utf8.dropFirst(cut)))
                try handle.close()
                try await Task.sleep(for: .milliseconds(25))
            }
        }
        for failpoint in ["after-extract:2", "after-load:5", "after-checkpoint:9", "after-load:14", "after-extract:20"] {
            let killed = try await Subprocess.run(["run", "p.json", "--follow", "--state", "s.sqlite"], in: directory.url,
                                                  environment: environment.merging(["ETL_FAILPOINT": failpoint]) { $1 })
            #expect(killed.signal == SIGKILL, "expected SIGKILL at \(failpoint): \(killed.output)")
        }
        try await writer.value
        let follower = try Subprocess.start(["run", "p.json", "--follow", "--state", "s.sqlite"], in: directory.url, environment: environment)
        let expected = try Self.expected(all, mode: mode)
        let deadline = ContinuousClock.now + .seconds(60)
        var live: [[String]] = []
        while ContinuousClock.now < deadline {
            live = try await Self.live(environment, mode: mode)
            if live.count >= expected.count { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        follower.signal(SIGTERM)
        let stopped = await follower.wait()
        #expect(stopped.status == 130, "a follower stops with 130 after SIGTERM: \(stopped.output)")
        #expect(try await Self.live(environment, mode: mode) == expected)
        let runs = try await RunStatus.statusJSON(state: "s.sqlite", in: directory)
        #expect(runs.count == 1, "every follow continued the same run: \(runs)")
        #expect(runs.first?["state"] as? String == "interrupted")
        #expect(runs.first?["records"] as? Int == all.count)
    }

    @Test func aReaderOfAMergedTableNeverSeesADuplicateOrAMissingKey() async throws {
        let environment = try await SharedClickHouse.freshDatabase()
        let directory = try TemporaryDirectory()
        try directory.write("p.json", Self.pipeline(mode: "merge", batchSize: 100))
        try directory.write("in.jsonl", (0..<500).map { #"{"id": \#($0), "v": "r0"}"# + "\n" }.joined())
        let first = try await Subprocess.run(["run", "p.json", "--state", "s.sqlite"], in: directory.url, environment: environment)
        #expect(first.status == 0, "\(first.output)")

        let client = clickHouseClient(for: environment)
        let done = Atomic(false)
        // As the README says to read a merged table: FINAL.
        let reader = Task {
            var observations: [[String]] = []
            while !done.load(ordering: .relaxed) {
                observations.append(try await client.rows("SELECT count(), uniqExact(id), min(id), max(id) FROM t_merge FINAL").first ?? [])
            }
            return observations
        }
        // Five runs, each updating 200 existing keys and adding 50 new ones.
        var keys = 500
        for round in 1...5 {
            let updates = (0..<200).map { #"{"id": \#(($0 * 7 + round * 13) % keys), "v": "r\#(round)"}"# }
            let new = (keys..<keys + 50).map { #"{"id": \#($0), "v": "r\#(round)"}"# }
            try Self.append(updates + new, to: directory.path("in.jsonl"))
            keys += 50
            let result = try await Subprocess.run(["run", "p.json", "--state", "s.sqlite"], in: directory.url, environment: environment)
            #expect(result.status == 0, "\(result.output)")
        }
        done.store(true, ordering: .relaxed)
        let observations = try await reader.value
        #expect(observations.count > 10, "the reader ran during the merges (\(observations.count) reads)")
        var seen = 500
        for observation in observations {
            guard observation.count == 4, let count = Int(observation[0]), let unique = Int(observation[1]) else {
                Issue.record("unreadable observation \(observation)")
                continue
            }
            #expect(count == unique, "two rows with one key: \(observation)")
            #expect(count >= seen && observation[2] == "0", "a key loaded before went missing: \(observation)")
            seen = max(seen, count)
        }
        #expect(try await client.rows("SELECT count(), uniqExact(id) FROM t_merge FINAL").first == [String(keys), String(keys)])
        #expect(try await client.rows("SELECT count() FROM t_merge FINAL WHERE v = 'r0'").first != ["0"])
    }
}
