import ETLComponents
import ETLCore
import Foundation
import GRDB
import Logging
import Testing

/// Write modes, state across runs and following, in-process, over the jsonl source and sink.
struct WriteModeTests {
    let directory: URL
    var input: String { directory.appendingPathComponent("in.jsonl").path }
    var output: String { directory.appendingPathComponent("out.jsonl").path }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("etl-modes-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func pipeline(_ load: String, name: String = "modes", output: String? = nil, batchSize: Int = 4) throws -> Pipeline {
        let text = """
            {"version": 1, "name": "\(name)",
             "extract": {"type": "jsonl", "path": "\(input)", "batch_size": \(batchSize), "max_batch_wait_ms": 100},
             "load": {"type": "jsonl", "path": "\(output ?? self.output)", \(load)}}
            """
        return try Pipeline.build(file: PipelineFile(path: directory.path + "/\(name).json", text: text), registry: PipelineSpecTests.registry,
                                  environment: [:], redactor: Redactor())
    }

    func runner(stop: StopSignal = StopSignal()) throws -> Runner {
        Runner(store: try CheckpointStore(path: directory.appendingPathComponent("state.sqlite").path),
               logger: Logger(label: "test"), redactor: Redactor(), stop: stop)
    }

    func write(_ lines: [String], append: Bool = false) throws {
        let text = lines.map { $0 + "\n" }.joined()
        if append, let handle = FileHandle(forWritingAtPath: input) {
            handle.seekToEndOfFile()
            handle.write(Data(text.utf8))
            try handle.close()
        } else {
            try text.write(toFile: input, atomically: true, encoding: .utf8)
        }
    }

    func lines(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    func row(_ id: Int, _ value: String) -> String { #"{"id":\#(id),"v":"\#(value)"}"# }

    @Test func anIncrementalAppendReadsOnlyTheNewLinesAndEqualsAFullRefresh() async throws {
        try write((1...10).map { row($0, "a") })
        let first = try await runner().start(try pipeline(#""mode": "append""#))
        #expect(first.records == 10 && first.mode == "append")
        try write((11...17).map { row($0, #"b\n\"quoted\" 😀"#) }, append: true)
        let second = try await runner().start(try pipeline(#""mode": "append""#))
        #expect(second.records == 7, "the second run read \(second.records) records, not only the 7 new ones")
        #expect(second.state == .completed)

        let refreshed = directory.appendingPathComponent("refreshed.jsonl").path
        let full = try await runner().start(try pipeline(#""mode": "replace""#, name: "full", output: refreshed))
        #expect(full.records == 17)
        #expect(try lines(output) == lines(refreshed))
        #expect(try lines(output).count == 17)

        // Nothing new: a run reads nothing and changes nothing.
        let third = try await runner().start(try pipeline(#""mode": "append""#))
        #expect(third.records == 0)
        #expect(try lines(output).count == 17)
    }

    @Test func mergeKeepsOneRowPerKeyTheLastOrTheFirst() async throws {
        // Duplicates within a batch, across batches and across runs.
        try write([row(1, "a1"), row(2, "a2"), row(1, "b1"), row(3, "a3"), row(2, "b2"), row(4, "a4")])
        let last = directory.appendingPathComponent("last.jsonl").path, first = directory.appendingPathComponent("first.jsonl").path
        _ = try await runner().start(try pipeline(#""mode": "merge", "primary_key": "id""#, name: "last", output: last))
        _ = try await runner().start(try pipeline(#""mode": "merge", "primary_key": ["id"], "keep": "first""#, name: "first", output: first))
        try write([row(3, "c3"), row(5, "c5"), row(3, "d3")], append: true)
        let again = try await runner().start(try pipeline(#""mode": "merge", "primary_key": "id""#, name: "last", output: last))
        #expect(again.records == 3)
        _ = try await runner().start(try pipeline(#""mode": "merge", "primary_key": ["id"], "keep": "first""#, name: "first", output: first))
        // A key keeps the place where it first landed: batch 1 kept 2, 1 and 3 of its 1, 2, 1, 3.
        #expect(try lines(last) == [row(2, "b2"), row(1, "b1"), row(3, "d3"), row(4, "a4"), row(5, "c5")])
        #expect(try lines(first) == [row(1, "a1"), row(2, "a2"), row(3, "a3"), row(4, "a4"), row(5, "c5")])
    }

    @Test func aReplacedOrShrunkSourceIsAnErrorThatNamesFullRefresh() async throws {
        try write((1...6).map { row($0, "a") })
        _ = try await runner().start(try pipeline(#""mode": "append""#))
        try write((1...6).map { row($0, "b") })  // the same length, other bytes
        do {
            _ = try await runner().start(try pipeline(#""mode": "append""#))
            Issue.record("a rewritten source was read on")
        } catch {
            #expect(String(describing: error).contains("--full-refresh"), "\(error)")
        }
        try write([row(1, "c")])
        // The failed run is still there to resume; it fails the same way.
        await #expect { try await runner().resume(try pipeline(#""mode": "append""#)) } throws: { error in
            String(describing: error).contains("shorter") && String(describing: error).contains("--full-refresh")
        }
        let refresh = try await runner().start(try pipeline(#""mode": "append""#), options: RunOptions(fullRefresh: true))
        #expect(refresh.records == 1 && refresh.mode == "replace" && refresh.fullRefresh)
        #expect(try lines(output) == [row(1, "c")])
        // The next incremental run goes on from the refresh.
        try write([row(2, "d")], append: true)
        #expect(try await runner().start(try pipeline(#""mode": "append""#)).records == 1)
        #expect(try lines(output) == [row(1, "c"), row(2, "d")])
    }

    @Test func theStateIsShownAndCanBeReset() async throws {
        try write((1...5).map { row($0, "a") })
        let runner = try runner()
        let run = try await runner.start(try pipeline(#""mode": "append""#))
        let state = try #require(try runner.store.state(pipeline: "modes"))
        #expect(state.runID == run.id && state.batch == 2)
        #expect(try state.cursorValue()[path: FieldPath("line")!] == .int(5))
        #expect(try runner.store.resetState(pipeline: "modes"))
        #expect(try runner.store.state(pipeline: "modes") == nil)
        // From the start again: in append mode the rows land a second time.
        #expect(try await runner.start(try pipeline(#""mode": "append""#)).records == 5)
        #expect(try lines(output).count == 10)
    }

    @Test func anUnreadableCursorFailsLoudlyInsteadOfStartingOver() async throws {
        try write((1...9).map { row($0, "a") })
        let stop = StopSignal()
        stop.request()
        await #expect(throws: ETLError.self) { try await runner(stop: stop).start(try pipeline(#""mode": "append""#)) }
        let database = try DatabaseQueue(path: directory.appendingPathComponent("state.sqlite").path)
        try await database.write { try $0.execute(sql: "UPDATE runs SET cursor = '{\"offset\": 1'") }
        await #expect { try await runner().resume(try pipeline(#""mode": "append""#)) } throws: { error in
            String(describing: error).contains("unreadable cursor")
        }
        #expect(try lines(output).count == 4, "the run must not have read the source again from the start")
    }

    @Test func aFollowingRunReadsLinesAsTheyAreWrittenAndStopsAtABatchBoundary() async throws {
        try write((1...5).map { row($0, "a") })
        let stop = StopSignal()
        let following = Task { try await runner(stop: stop).start(try pipeline(#""mode": "append""#), options: RunOptions(follow: true)) }
        // A writer that trickles lines in, one of them in two parts.
        for id in 6...12 {
            try await Task.sleep(for: .milliseconds(60))
            let text = row(id, "t") + "\n"
            if id == 9 {
                try write([], append: true)
                let handle = try #require(FileHandle(forWritingAtPath: input))
                handle.seekToEndOfFile()
                handle.write(Data(text.utf8.prefix(5)))
                try await Task.sleep(for: .milliseconds(300))
                handle.write(Data(text.utf8.dropFirst(5)))
                try handle.close()
            } else {
                try write([row(id, "t")], append: true)
            }
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while (try? lines(output).count) != 12, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(try lines(output) == (1...12).map { row($0, $0 <= 5 ? "a" : "t") })
        stop.request()
        await #expect { try await following.value } throws: { ($0 as? ETLError)?.code == .interrupted }
        let interrupted = try #require(try runner().store.latestRun(pipeline: "modes"))
        #expect(interrupted.state == .interrupted && interrupted.records == 12)

        // Following again continues that run.
        try write([row(13, "x")], append: true)
        let stopAgain = StopSignal()
        let again = Task { try await runner(stop: stopAgain).start(try pipeline(#""mode": "append""#), options: RunOptions(follow: true)) }
        while (try? lines(output).count) != 13, ContinuousClock.now < deadline + .seconds(10) { try await Task.sleep(for: .milliseconds(50)) }
        stopAgain.request()
        _ = try? await again.value
        #expect(try runner().store.latestRun(pipeline: "modes")?.id == interrupted.id)
        #expect(try lines(output).count == 13)
    }

    @Test func followAndModesAreCheckedBeforeAnythingRuns() async throws {
        try write([row(1, "a")])
        await #expect { try await runner().start(try pipeline(#""mode": "replace""#), options: RunOptions(follow: true)) } throws: { error in
            (error as? ETLError)?.code == .invalidPipeline && String(describing: error).contains("append")
        }
        await #expect { try await runner().start(try pipeline(#""mode": "append""#), options: RunOptions(fullRefresh: true, follow: true)) } throws: { error in
            (error as? ETLError)?.code == .invalidPipeline
        }
        for (load, message) in [(#""mode": "merge""#, "primary_key"), (#""mode": "upsert""#, "is not one of"),
                                (#""mode": "append", "primary_key": "id""#, "merge\" only"), (#""mode": "merge", "primary_key": "id", "keep": "newest""#, "keep")] {
            do {
                _ = try pipeline(load)
                Issue.record("\(load) was accepted")
            } catch {
                #expect(String(describing: error).contains(message), "\(error)")
            }
        }
    }
}
