import Foundation
import Testing

/// The `etl` command's contract: messages, exit codes and refusals, on the real binary.
struct CommandLineTests {
    @Test func validateReportsEveryMistakeWithItsPath() async throws {
        let directory = try TemporaryDirectory()
        try directory.write("bad.json", """
            {"version": 1, "name": "orders",
             "extract": {"type": "jsonl", "path": "${NOT_SET_ANYWHERE}", "batch_sise": 10},
             "transform": [{"type": "explode", "field": "line_items"},
                           {"type": "selekt", "fields": {"a": "b"}},
                           {"type": "filter", "field": "quantity", "op": "bigger", "value": 1}],
             "load": {"type": "jsonl"}}
            """)
        let result = try await Subprocess.run(["validate", "bad.json"], in: directory.url)
        #expect(result.status == 2)
        let problems = result.stderr.split(separator: "\n").filter { $0.hasPrefix("  $") }
        #expect(problems.count == 5, "\(result.stderr)")
        for expected in [
            "$.extract.path: environment variable NOT_SET_ANYWHERE is not set",
            "$.extract.batch_sise: unknown key \"batch_sise\" (did you mean \"batch_size\"?)",
            "$.transform[1].type: unknown transform type \"selekt\"",
            "$.transform[2].op: \"bigger\" is not one of",
            "$.load: missing required key \"path\"",
        ] {
            #expect(result.stderr.contains(expected), "missing: \(expected)")
        }
    }

    @Test func validateAcceptsAGoodFileAndRunRefusesABadOne() async throws {
        let directory = try TemporaryDirectory()
        try directory.write("good.json", Fixtures.pipeline(input: "in.jsonl", output: "out.jsonl"))
        let good = try await Subprocess.run(["validate", "good.json"], in: directory.url)
        #expect(good.status == 0, "\(good.output)")
        try directory.write("broken.json", "{\"version\": 1,\n \"name\": \"x\",,}")
        let broken = try await Subprocess.run(["run", "broken.json", "--state", "s.sqlite"], in: directory.url)
        #expect(broken.status == 2)
        #expect(broken.stderr.contains("invalid JSON"))
        #expect(broken.stderr.contains("line 2"))
    }

    @Test func environmentComesFromDotEnvToo() async throws {
        let directory = try TemporaryDirectory()
        try Fixtures.writeOrders(count: 10, to: directory.path("in.jsonl"))
        try directory.write(".env", "# test\nINPUT_FILE=in.jsonl\n")
        try directory.write("p.json", Fixtures.pipeline(input: "${INPUT_FILE}", output: "out.jsonl"))
        let result = try await Subprocess.run(["run", "p.json", "--state", "s.sqlite"], in: directory.url)
        #expect(result.status == 0, "\(result.output)")
    }

    /// Compose files pass `${ETL_STATE_PATH:-}`: an empty setting must mean the default, not an
    /// empty path (which SQLite would take for a throwaway database).
    @Test func emptySettingsCountAsUnset() async throws {
        let directory = try TemporaryDirectory()
        try Fixtures.writeOrders(count: 10, to: directory.path("in.jsonl"))
        try directory.write("p.json", Fixtures.pipeline(input: "in.jsonl", output: "out.jsonl"))
        let result = try await Subprocess.run(["run", "p.json"], in: directory.url, environment: ["ETL_STATE_PATH": ""])
        #expect(result.status == 0, "\(result.output)")
        #expect(FileManager.default.fileExists(atPath: directory.path(".etl/state.sqlite")))
    }

    @Test func aChangedPipelineFileIsNotSilentlyResumed() async throws {
        let directory = try TemporaryDirectory()
        try Fixtures.writeOrders(count: 5000, to: directory.path("in.jsonl"))
        try directory.write("p.json", Fixtures.pipeline(input: "in.jsonl", output: "out.jsonl", batchSize: 100))
        let killed = try await Subprocess.run(["run", "p.json", "--state", "s.sqlite"], in: directory.url, environment: ["ETL_FAILPOINT": "after-load:5"])
        #expect(killed.signal == SIGKILL)

        try directory.write("p.json", Fixtures.pipeline(input: "in.jsonl", output: "out.jsonl", batchSize: 200))
        let refused = try await Subprocess.run(["resume", "p.json", "--state", "s.sqlite"], in: directory.url)
        #expect(refused.status == 4)
        #expect(refused.stderr.contains("$.extract.batch_size"), "\(refused.stderr)")
        #expect(refused.stderr.contains("--restart"))

        // A fresh `run` does not throw the interrupted one away without being asked.
        let run = try await Subprocess.run(["run", "p.json", "--state", "s.sqlite"], in: directory.url)
        #expect(run.status == 4)
        #expect(run.stderr.contains("etl resume"))

        let restarted = try await Subprocess.run(["run", "p.json", "--restart", "--state", "s.sqlite"], in: directory.url)
        #expect(restarted.status == 0, "\(restarted.output)")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.url.path).filter { $0.contains(".run-") }
        #expect(leftovers.isEmpty, "the abandoned run's staging is removed: \(leftovers)")
    }

    @Test func aSecondRunOfALivePipelineIsRefusedWithTheHoldersRunID() async throws {
        let directory = try TemporaryDirectory()
        // A FIFO keeps the first run waiting for input while holding the pipeline's lock.
        #expect(mkfifo(directory.path("in.jsonl"), 0o644) == 0)
        try directory.write("p.json", Fixtures.pipeline(input: "in.jsonl", output: "out.jsonl"))
        let first = try Subprocess.start(["run", "p.json", "--state", "s.sqlite"], in: directory.url)

        // Wait until the first run holds the lock, so that the second one cannot take it first.
        var live = false
        for _ in 0..<500 where !live {
            live = try await Subprocess.run(["status", "--state", "s.sqlite"], in: directory.url).stdout.contains(" running ")
            if !live { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(live)
        let second = try await Subprocess.run(["run", "p.json", "--state", "s.sqlite"], in: directory.url)
        #expect(second.status == 3)
        #expect(second.stderr.contains("already running (run 1, pid \(first.pid))"), "\(second.output)")

        let writer = FileHandle(forWritingAtPath: directory.path("in.jsonl"))!
        writer.write(Data(#"{"id": 1, "line_items": [{"id": 10, "title": "Tee", "quantity": 2}]}"#.utf8 + [0x0A]))
        try writer.close()
        #expect(await first.wait().status == 0)
        #expect(try String(contentsOfFile: directory.path("out.jsonl"), encoding: .utf8) == #"{"order_id":1,"line_item_id":10,"title":"Tee","quantity":2}"# + "\n")
    }

    @Test func resumeWithNothingToResumeSaysSo() async throws {
        let directory = try TemporaryDirectory()
        let result = try await Subprocess.run(["resume", "--state", "s.sqlite"], in: directory.url)
        #expect(result.status == 4)
        #expect(result.stderr.contains("no interrupted run"))
    }
}
