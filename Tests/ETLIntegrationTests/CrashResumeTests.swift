import Foundation
import Testing

/// The runner's promise, checked on the real binary: a run killed by SIGKILL at any point and
/// resumed with `etl resume` writes exactly the bytes of an uninterrupted run.
@Suite(.serialized)
struct CrashResumeTests {
    static let orderCount = 200_000

    /// One input file and the output of an uninterrupted run, shared by every case.
    final class Baseline: Sendable {
        let directory: TemporaryDirectory
        let output: Data
        let lineItems: Int
        /// Peak memory of the uninterrupted run, as `etl run` reports it.
        let peakMiB: Double

        nonisolated(unsafe) static var shared: Baseline?

        init() async throws {
            directory = try TemporaryDirectory()
            lineItems = try Fixtures.writeOrders(count: CrashResumeTests.orderCount, to: directory.path("orders.jsonl"))
            try directory.write("pipeline.json", Fixtures.pipeline(input: "orders.jsonl", output: "out/baseline.jsonl"))
            let result = try await Subprocess.run(["run", "pipeline.json", "--state", "baseline.sqlite"], in: directory.url)
            guard result.status == 0 else { throw TestFailure("baseline run failed: \(result.output)") }
            output = try directory.read("out/baseline.jsonl")
            peakMiB = try CrashResumeTests.peakMemory(in: result)
        }

        static func get() async throws -> Baseline {
            if let shared { return shared }
            let baseline = try await Baseline()
            shared = baseline
            return baseline
        }
    }

    @Test func uninterruptedRunLoadsEveryLineItemOnceInOrder() async throws {
        let baseline = try await Baseline.get()
        let lines = baseline.output.split(separator: UInt8(ascii: "\n"))
        #expect(lines.count == baseline.lineItems)
        let ids = lines.map { line -> Int64 in
            let object = try! JSONSerialization.jsonObject(with: Data(line)) as! [String: Any]
            return (object["line_item_id"] as! NSNumber).int64Value
        }
        #expect(Set(ids).count == ids.count, "duplicate line items")
        #expect(ids == ids.sorted(), "line items out of source order")
    }

    /// Killed at every failpoint in turn, each kill during the resume of the one before; the last
    /// resume finishes. Output must be the uninterrupted run's, byte for byte.
    @Test func killedAtEveryFailpointInTurnResumesToIdenticalOutput() async throws {
        let baseline = try await Baseline.get()
        let directory = baseline.directory
        try directory.write("chain.json", Fixtures.pipeline(input: "orders.jsonl", output: "out/chain.jsonl"))
        let failpoints = [
            "after-extract:1",       // the very first batch, before anything is staged
            "after-extract:57",      // mid-extraction
            "after-load:120",        // between a load and its checkpoint
            "after-checkpoint:199",  // just before the source runs dry
            "before-complete",       // at the swap
            "after-complete",        // swapped, not yet marked completed
        ]
        for (index, failpoint) in failpoints.enumerated() {
            let command = index == 0 ? ["run", "chain.json"] : ["resume"]
            let killed = try await Subprocess.run(command + ["--state", "chain.sqlite"], in: directory.url, environment: ["ETL_FAILPOINT": failpoint])
            #expect(killed.signal == SIGKILL, "expected SIGKILL at \(failpoint): \(killed.output)")
            if failpoint == "after-checkpoint:199" {
                #expect(killed.stderr.contains("batch 120 was already staged before the interruption"), "the batch loaded before its checkpoint was recognised: \(killed.stderr)")
            }
        }
        let resumed = try await Subprocess.run(["resume", "--state", "chain.sqlite"], in: directory.url)
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(try directory.read("out/chain.jsonl") == baseline.output)
        try expectNoStagingLeft(in: directory, output: "out/chain.jsonl")
        let status = try await RunStatus.statusJSON(state: "chain.sqlite", in: directory)
        #expect(status.count == 1)
        #expect(status.first?["state"] as? String == "completed")
        #expect(status.first?["rows"] as? Int == baseline.lineItems)
    }

    /// Not at a failpoint: whenever the process happens to be once the run is under way.
    @Test func killedFromOutsideMidRun() async throws {
        let baseline = try await Baseline.get()
        let directory = baseline.directory
        try directory.write("outside.json", Fixtures.pipeline(input: "orders.jsonl", output: "out/outside.jsonl"))
        let process = try Subprocess.start(["run", "outside.json", "--state", "outside.sqlite"], in: directory.url)
        try await RunStatus.waitForBatches(atLeast: 20, state: "outside.sqlite", in: directory, of: process)
        process.signal(SIGKILL)
        #expect(await process.wait().signal == SIGKILL)

        let status = try await Subprocess.run(["status", "--state", "outside.sqlite"], in: directory.url)
        #expect(status.stdout.contains("crashed"), "a killed run shows as crashed: \(status.stdout)")
        let resumed = try await Subprocess.run(["resume", "--state", "outside.sqlite"], in: directory.url)
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(try directory.read("out/outside.jsonl") == baseline.output)
    }

    @Test func sigtermStopsAtABatchBoundaryAndResumes() async throws {
        let baseline = try await Baseline.get()
        let directory = baseline.directory
        try directory.write("term.json", Fixtures.pipeline(input: "orders.jsonl", output: "out/term.jsonl"))
        let process = try Subprocess.start(["run", "term.json", "--state", "term.sqlite"], in: directory.url)
        try await RunStatus.waitForBatches(atLeast: 10, state: "term.sqlite", in: directory, of: process)
        process.signal(SIGTERM)
        let stopped = await process.wait()
        #expect(stopped.status == 130, "\(stopped.output)")
        #expect(stopped.stderr.contains("etl resume"), "says how to continue: \(stopped.stderr)")

        let status = try await RunStatus.statusJSON(state: "term.sqlite", in: directory)
        #expect(status.first?["state"] as? String == "interrupted")
        let resumed = try await Subprocess.run(["resume", "--state", "term.sqlite"], in: directory.url)
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(try directory.read("out/term.jsonl") == baseline.output)
    }

    @Test func peakMemoryStaysFlatAsTheInputGrows() async throws {
        let baseline = try await Baseline.get()
        let directory = try TemporaryDirectory()
        try Fixtures.writeOrders(count: CrashResumeTests.orderCount / 4, to: directory.path("small.jsonl"))
        try directory.write("small.json", Fixtures.pipeline(input: "small.jsonl", output: "out/small.jsonl"))
        let small = try await Subprocess.run(["run", "small.json", "--state", "small.sqlite"], in: directory.url)
        #expect(small.status == 0)
        let smallMiB = try Self.peakMemory(in: small)
        print("peak memory: \(smallMiB) MiB for \(CrashResumeTests.orderCount / 4) orders, \(baseline.peakMiB) MiB for \(CrashResumeTests.orderCount) orders")
        #expect(baseline.peakMiB < 100)
        #expect(baseline.peakMiB < smallMiB * 1.25, "memory grows with the input")
    }

    /// The figure from `etl run`'s summary line: "…, peak memory 38.2 MiB".
    static func peakMemory(in result: Subprocess.Result) throws -> Double {
        guard let range = result.stdout.range(of: "peak memory "),
              let value = Double(result.stdout[range.upperBound...].prefix { $0.isNumber || $0 == "." })
        else { throw TestFailure("no peak memory in: \(result.stdout)") }
        return value
    }

    private func expectNoStagingLeft(in directory: TemporaryDirectory, output: String) throws {
        let folder = (directory.path(output) as NSString).deletingLastPathComponent
        let name = (output as NSString).lastPathComponent
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix(name + ".run-") }
        #expect(leftovers.isEmpty, "staging left behind: \(leftovers)")
    }
}
