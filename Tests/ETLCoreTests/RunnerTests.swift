import ETLComponents
import ETLCore
import Foundation
import Logging
import Synchronization
import Testing

/// The runner in-process against a real SQLite file and real files on disk.
struct RunnerTests {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("etl-runner-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let lines = (1...25).map { #"{"id":\#($0),"items":[{"t":"a\#($0)","q":\#($0 % 4)}]}"# }
        try (lines.joined(separator: "\n") + "\n").write(to: directory.appendingPathComponent("in.jsonl"), atomically: true, encoding: .utf8)
    }

    func pipeline(batchSize: Int = 10, sinkType: String = "jsonl", redactor: Redactor = Redactor()) throws -> Pipeline {
        var registry = PipelineSpecTests.registry
        registry.registerSink("failing") { config in
            let password = config.secret("password", required: true)
            return password.map { FailingSink(password: $0.value) }
        }
        let text = """
            {"version": 1, "name": "runner-test",
             "extract": {"type": "jsonl", "path": "\(directory.path)/in.jsonl", "batch_size": \(batchSize)},
             "transform": [{"type": "explode", "field": "items", "as": "item"},
                           {"type": "filter", "field": "item.q", "op": "gt", "value": 0}],
             "load": \(sinkType == "jsonl" ? #"{"type": "jsonl", "path": "\#(directory.path)/out.jsonl"}"# : #"{"type": "failing", "password": "${DB_PASSWORD}"}"#)}
            """
        return try Pipeline.build(file: PipelineFile(path: directory.path + "/p.json", text: text), registry: registry,
                                  environment: ["DB_PASSWORD": "hunter2-secret"], redactor: redactor)
    }

    func runner(stop: StopSignal = StopSignal(), redactor: Redactor = Redactor()) throws -> Runner {
        Runner(store: try CheckpointStore(path: directory.appendingPathComponent("state.sqlite").path),
               logger: Logger(label: "test"), redactor: redactor, stop: stop)
    }

    @Test func aRunCheckpointsEveryBatchAndCompletes() async throws {
        let runner = try runner()
        let run = try await runner.start(try pipeline())
        #expect(run.state == .completed)
        #expect(run.batches == 3)
        #expect(run.records == 25)
        #expect(run.rows == 19)  // items with q == 0 filtered out
        #expect(try run.cursorValue()?[path: FieldPath("line")!] == .int(25))
        let batches = try runner.store.batches(runID: run.id)
        #expect(batches.map(\.state) == [.loaded, .loaded, .loaded])
        #expect(batches.map(\.records) == [10, 10, 5])
        let output = try String(contentsOf: directory.appendingPathComponent("out.jsonl"), encoding: .utf8)
        #expect(output.split(separator: "\n").count == 19)
    }

    @Test func aStopRequestEndsAtABatchBoundaryAndResumeFinishes() async throws {
        let stop = StopSignal()
        stop.request()
        let runner = try runner(stop: stop)
        await #expect(throws: ETLError.self) { try await runner.start(try pipeline()) }
        let interrupted = try #require(try runner.store.latestRun(pipeline: "runner-test"))
        #expect(interrupted.state == .interrupted)
        #expect(interrupted.batches == 1)
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("out.jsonl").path))

        let resumed = try await self.runner().resume(try pipeline())
        #expect(resumed.id == interrupted.id)
        #expect(resumed.state == .completed)
        #expect(resumed.records == 25)
        #expect(resumed.rows == 19)
    }

    @Test func onlyOneRunOfAPipelineAtATime() throws {
        let store = try CheckpointStore(path: directory.appendingPathComponent("state.sqlite").path)
        let held = try PipelineLock.acquire(statePath: store.path, pipeline: "runner-test")
        held.recordHolder(runID: 42)
        #expect(PipelineLock.isHeld(statePath: store.path, pipeline: "runner-test"))
        #expect {
            try PipelineLock.acquire(statePath: store.path, pipeline: "runner-test")
        } throws: { error in
            (error as? ETLError)?.code == .pipelineBusy && String(describing: error).contains("run 42")
        }
    }

    @Test func secretsNeverReachErrorsOrStatus() async throws {
        let redactor = Redactor()
        let runner = try runner(redactor: redactor)
        do {
            _ = try await runner.start(try pipeline(sinkType: "failing", redactor: redactor))
            Issue.record("the failing sink did not fail")
        } catch {
            let message = String(describing: error)
            #expect(message.contains("failed in load"))
            #expect(message.contains("etl resume"))
            #expect(!message.contains("hunter2-secret"))
        }
        let run = try #require(try runner.store.latestRun(pipeline: "runner-test"))
        #expect(run.state == .failed)
        #expect(run.error?.contains("***") == true)
        #expect(run.error?.contains("hunter2-secret") == false)
    }

    @Test func theSourceOpensWhileTheSinkSessionOpens() async throws {
        let opened = SourceOpened()
        var registry = ComponentRegistry()
        registry.registerSource("witnessed") { _ in WitnessedSource(opened: opened) }
        registry.registerSink("waits-for-source") { _ in WaitsForSourceSink(opened: opened) }
        let text = #"{"version": 1, "name": "overlap-test", "extract": {"type": "witnessed"}, "load": {"type": "waits-for-source"}}"#
        let pipeline = try Pipeline.build(file: PipelineFile(path: directory.path + "/overlap.json", text: text), registry: registry,
                                          environment: [:], redactor: Redactor())
        let run = try await runner().start(pipeline)
        #expect(run.state == .completed)
        #expect(run.records == 2)
        #expect(run.expectedTotal == 2)
    }

    @Test func aFollowingRunThatNeverCatchesUpStillPublishesItsBatches() async throws {
        let published = PublishCount()
        var registry = ComponentRegistry()
        registry.registerSource("endless") { _ in EndlessSource() }
        registry.registerSink("counting") { _ in CountingSink(published: published) }
        let text = #"{"version": 1, "name": "endless-test", "extract": {"type": "endless"}, "load": {"type": "counting", "mode": "append"}}"#
        let pipeline = try Pipeline.build(file: PipelineFile(path: directory.path + "/endless.json", text: text), registry: registry,
                                          environment: [:], redactor: Redactor())
        let stop = StopSignal()
        let runner = try runner(stop: stop)
        let following = Task { try await runner.start(pipeline, options: RunOptions(follow: true)) }
        try await Task.sleep(for: .milliseconds(1_700))
        let whileRunning = published.value
        stop.request()
        await #expect { try await following.value } throws: { ($0 as? ETLError)?.code == .interrupted }
        // A batch every 50 ms, never a moment with nothing to read: without the publish interval
        // the sink would hear of its batches only at the stop, and readers' caches never.
        #expect(whileRunning >= 2, "published \(whileRunning) times in 1.7 s")
    }

    @Test func latestRunFindsTheNewestAndTheNewestResumable() throws {
        let store = try CheckpointStore(path: directory.appendingPathComponent("state.sqlite").path)
        #expect(try store.latestRun(resumable: true) == nil)
        let failed = try store.createRun(pipeline: "a", file: PipelineFile(path: "/a.json", text: "{}"))
        try store.setState(runID: failed.id, .failed, error: "boom")
        let completed = try store.createRun(pipeline: "b", file: PipelineFile(path: "/b.json", text: "{}"))
        try store.setState(runID: completed.id, .completed)
        #expect(try store.latestRun()?.id == completed.id)
        #expect(try store.latestRun(pipeline: "a")?.id == failed.id)
        #expect(try store.latestRun(resumable: true)?.id == failed.id)
        #expect(try store.latestRun(pipeline: "b", resumable: true) == nil)
    }

    @Test func theStoreMigratesOnceAndReopens() throws {
        let path = directory.appendingPathComponent("state.sqlite").path
        let first = try CheckpointStore(path: path)
        let run = try first.createRun(pipeline: "p", file: PipelineFile(path: "/p.json", text: "{}"))
        try first.beginBatch(runID: run.id, sequence: 1, hash: "h", records: 3, rows: 2)
        _ = try first.commitBatch(runID: run.id, sequence: 1, cursor: .int(3))
        let reopened = try CheckpointStore(path: path)
        let again = try #require(try reopened.run(id: run.id))
        #expect(again.cursor == "3")
        #expect(again.batches == 1)
        #expect(again.rows == 2)
        #expect(throws: ETLError.self) { try reopened.commitBatch(runID: run.id, sequence: 9, cursor: .null) }
    }
}

/// A sink whose failures mention its password, as a careless driver's might.
struct FailingSink: Sink {
    let password: String
    func openSession(context: StageContext) async throws -> any SinkSession {
        throw ETLError(.stageFailed, "login with password \(password) refused")
    }
    func discardRun(context: StageContext) async throws {}
}

/// Whether a source has opened its reader.
final class SourceOpened: Sendable {
    private let flag = Atomic<Bool>(false)

    func mark() { flag.store(true, ordering: .relaxed) }
    var isMarked: Bool { flag.load(ordering: .relaxed) }
}

/// Two records in one batch; marks `opened` when its reader opens.
struct WitnessedSource: Source {
    let opened: SourceOpened

    func openReader(after cursor: JSONValue?, fields: FieldSelection, context: StageContext) async throws -> any SourceReader {
        opened.mark()
        return TwoRecordsReader()
    }
}

final class TwoRecordsReader: SourceReader {
    private var done = false
    let expectedTotal: Int? = 2

    func next() async throws -> SourceBatch? {
        defer { done = true }
        return done ? nil : SourceBatch(records: [.object(JSONObject([("id", .int(1))])), .object(JSONObject([("id", .int(2))]))], cursor: .int(2))
    }
}

/// Opens its session only once the source has opened: a runner that opened the source only after
/// the sink session would wait here until the sink gives up.
struct WaitsForSourceSink: Sink {
    let opened: SourceOpened

    func openSession(context: StageContext) async throws -> any SinkSession {
        let deadline = ContinuousClock.now + .seconds(5)
        while !opened.isMarked {
            guard ContinuousClock.now < deadline else { throw ETLError(.stageFailed, "the source did not open while the sink session opened") }
            try await Task.sleep(for: .milliseconds(5))
        }
        return DiscardingSession()
    }

    func discardRun(context: StageContext) async throws {}
}

final class DiscardingSession: SinkSession {
    func landedBatches() async throws -> [Int: StagedBatch] { [:] }
    func discardBatches(from sequence: Int) async throws {}
    func load(_ batch: consuming LoadBatch) async throws {}
    func complete() async throws {}
}

/// A continuous source that always has a batch: one record every 50 ms, so a following run never
/// catches up.
struct EndlessSource: Source {
    var isIncremental: Bool { true }
    var isContinuous: Bool { true }

    func openReader(after cursor: JSONValue?, fields: FieldSelection, context: StageContext) async throws -> any SourceReader {
        EndlessReader(next: cursor.flatMap { if case .int(let value) = $0 { value } else { nil } } ?? 0)
    }
}

final class EndlessReader: SourceReader {
    private var next: Int64
    let expectedTotal: Int? = nil

    init(next: Int64) { self.next = next }

    func next() async throws -> SourceBatch? {
        try await Task.sleep(for: .milliseconds(50))
        next += 1
        return SourceBatch(records: [.object(JSONObject([("id", .int(next))]))], cursor: .int(next))
    }
}

/// How many times a sink was told its batches are ready.
final class PublishCount: Sendable {
    private let count = Atomic<Int>(0)

    func add() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

/// An `append` sink that keeps nothing and counts its `complete` calls.
struct CountingSink: Sink {
    let published: PublishCount

    func problems(with mode: WriteMode) -> [String] { [] }
    func openSession(context: StageContext) async throws -> any SinkSession { CountingSession(published: published) }
    func discardRun(context: StageContext) async throws {}
}

final class CountingSession: SinkSession {
    let published: PublishCount

    init(published: PublishCount) { self.published = published }

    func landedBatches() async throws -> [Int: StagedBatch] { [:] }
    func discardBatches(from sequence: Int) async throws {}
    func load(_ batch: consuming LoadBatch) async throws {}
    func complete() async throws { published.add() }
}
