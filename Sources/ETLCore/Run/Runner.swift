import Foundation
import Logging
import Synchronization

/// Set from a signal handler; the runner stops at the next batch boundary.
public final class StopSignal: Sendable {
    private let requested = Atomic<Bool>(false)

    public init() {}

    public func request() { requested.store(true, ordering: .relaxed) }
    public var isRequested: Bool { requested.load(ordering: .relaxed) }
}

/// A snapshot of a run's progress, reported after every checkpoint.
public struct RunProgress: Sendable {
    public let runID: Int64
    public let pipeline: String
    public let batches: Int
    public let records: Int
    public let rows: Int
    public let expectedTotal: Int?
    /// Records per second since this process started or resumed the run.
    public let recordsPerSecond: Double

    public var estimatedSecondsLeft: Double? {
        secondsLeft(records: records, of: expectedTotal, perSecond: recordsPerSecond)
    }
}

/// Seconds until `total` records at `perSecond`, when both are known.
func secondsLeft(records: Int, of total: Int?, perSecond: Double?) -> Double? {
    guard let total, let perSecond, perSecond > 0, total >= records else { return nil }
    return Double(total - records) / perSecond
}

/// What a command asks of a run besides the pipeline.
public struct RunOptions: Sendable {
    /// Discard an unfinished earlier run (and what it left unconfirmed) and start over.
    public var restart: Bool
    /// Start from nothing: ignore the pipeline's state and replace the live data when the run
    /// completes, whatever the mode; discards an unfinished earlier run.
    public var fullRefresh: Bool
    /// When the source has nothing more, wait for more instead of completing; continues an
    /// unfinished earlier run.
    public var follow: Bool

    public init(restart: Bool = false, fullRefresh: Bool = false, follow: Bool = false) {
        self.restart = restart
        self.fullRefresh = fullRefresh
        self.follow = follow
    }
}

/// Runs pipelines batch by batch: extract → transform → hash → load → checkpoint, then the swap
/// (replace) or the record that the batches are ready (append, merge).
public struct Runner: Sendable {
    public let store: CheckpointStore
    public let logger: Logger
    public let redactor: Redactor
    public let stop: StopSignal
    public let onProgress: @Sendable (RunProgress) -> Void

    /// A following run tells the sink its checkpointed batches are ready (`complete`) each time it
    /// catches up with its source, and at least this often when it never does (a steady stream):
    /// readers' caches start over on each such load, so this bounds how long they miss new rows.
    static let publishInterval = Duration.milliseconds(500)

    public init(store: CheckpointStore, logger: Logger, redactor: Redactor, stop: StopSignal,
                onProgress: @escaping @Sendable (RunProgress) -> Void = { _ in }) {
        self.store = store
        self.logger = logger
        self.redactor = redactor
        self.stop = stop
        self.onProgress = onProgress
    }

    /// Starts a new run. An earlier run of the pipeline that could still be resumed is not thrown
    /// away silently: without `restart` or `fullRefresh` this fails and says how to continue it. A
    /// following run continues such a run instead.
    public func start(_ pipeline: Pipeline, options: RunOptions = RunOptions()) async throws -> RunRecord {
        try check(options, for: pipeline)
        let lock = try PipelineLock.acquire(statePath: store.path, pipeline: pipeline.name)
        if let previous = try store.latestRun(pipeline: pipeline.name), previous.state.isResumable {
            if options.follow, !options.restart {
                return try await continueRun(pipeline, run: previous, lock: lock, following: true)
            }
            guard options.restart || options.fullRefresh else {
                throw ETLError(.interruptedRunExists,
                               "run \(previous.id) of pipeline \(pipeline.name) did not finish (\(previous.state.rawValue)); continue it with `etl resume \(pipeline.file.path)`, or discard it and start over with `etl run \(pipeline.file.path) --restart`")
            }
            try await abandon(previous, of: pipeline)
        }
        let replacesLive = pipeline.mode == .replace || options.fullRefresh
        // An incremental run starts where the pipeline's state says the last one stopped.
        let cursor = replacesLive || !pipeline.source.isIncremental ? nil : try store.state(pipeline: pipeline.name)?.cursorValue()
        let run = try store.createRun(pipeline: pipeline.name, file: pipeline.file, mode: replacesLive ? WriteMode.replace.name : pipeline.mode.name,
                                      fullRefresh: options.fullRefresh, cursor: cursor)
        lock.recordHolder(runID: run.id)
        if cursor != nil { logger.info("run \(run.id) starts from the pipeline's state", metadata: ["pipeline": "\(pipeline.name)", "run_id": "\(run.id)"]) }
        return try await execute(pipeline, run: run, lock: lock, following: options.follow)
    }

    /// Continues an interrupted run from its last checkpoint: the latest resumable run of the
    /// pipeline, or `runID` when given.
    public func resume(_ pipeline: Pipeline, runID: Int64? = nil, follow: Bool = false) async throws -> RunRecord {
        try check(RunOptions(follow: follow), for: pipeline)
        let lock = try PipelineLock.acquire(statePath: store.path, pipeline: pipeline.name)
        let candidate = try runID.flatMap { id throws(ETLError) in try store.run(id: id) }
            ?? store.latestRun(pipeline: pipeline.name)
        guard let run = candidate, run.pipeline == pipeline.name, run.state.isResumable else {
            let what = candidate.map { "its latest run \($0.id) is \($0.state.rawValue)" } ?? "it has never run"
            throw ETLError(.nothingToResume, "pipeline \(pipeline.name) has no interrupted run to resume (\(what)); start one with `etl run \(pipeline.file.path)`")
        }
        return try await continueRun(pipeline, run: run, lock: lock, following: follow)
    }

    private func continueRun(_ pipeline: Pipeline, run: RunRecord, lock: PipelineLock, following: Bool) async throws -> RunRecord {
        try checkUnchanged(pipeline, since: run)
        if following, run.replacesLive {
            throw ETLError(.invalidPipeline, "run \(run.id) of pipeline \(pipeline.name) replaces the live data (a full refresh), so it cannot follow; finish it with `etl resume \(pipeline.file.path)`, then follow")
        }
        lock.recordHolder(runID: run.id)
        if run.state != .completing { try store.setState(runID: run.id, .running) }
        logger.info("resuming run \(run.id) after batch \(run.batches)", metadata: ["pipeline": "\(pipeline.name)", "run_id": "\(run.id)"])
        return try await execute(pipeline, run: run, lock: lock, following: following)
    }

    /// What a command line can ask for that the pipeline cannot do.
    private func check(_ options: RunOptions, for pipeline: Pipeline) throws(ETLError) {
        if options.follow, pipeline.mode == .replace {
            throw ETLError(.invalidPipeline, "--follow needs a pipeline whose load \"mode\" is \"append\" or \"merge\" (\(pipeline.file.path) replaces its data on each run)")
        }
        if options.follow, options.fullRefresh {
            throw ETLError(.invalidPipeline, "--full-refresh replaces the live data when the run completes, so it cannot be combined with --follow; run the full refresh, then follow")
        }
    }

    /// Discards what an unfinished run left: its staging, or the batches it wrote into the live
    /// data after its last checkpoint (the checkpointed ones are part of the live data and of the
    /// pipeline's state).
    private func abandon(_ previous: RunRecord, of pipeline: Pipeline) async throws {
        let context = stageContext(for: previous, pipeline: pipeline, resumesCompletion: false, following: false)
        if previous.replacesLive {
            try await pipeline.sink.discardRun(context: context)
        } else {
            try await pipeline.sink.openSession(context: context).discardBatches(from: previous.batches + 1)
        }
        try store.setState(runID: previous.id, .abandoned)
        logger.notice("abandoned run \(previous.id) and discarded its unconfirmed data", metadata: ["pipeline": "\(pipeline.name)"])
    }

    /// A resumed run must read the pipeline file it started with; otherwise its output would mix
    /// two configurations. Formatting-only edits are fine.
    private func checkUnchanged(_ pipeline: Pipeline, since run: RunRecord) throws(ETLError) {
        guard run.pipelineHash != pipeline.file.hash else { return }
        let before = (try? JSONParser.parse(run.pipelineText)) ?? .null
        let now = (try? JSONParser.parse(pipeline.file.text)) ?? .null
        let changes = JSONDiff.changedPaths(from: before, to: now)
        guard !changes.isEmpty else { return }
        let shown = changes.prefix(5).joined(separator: ", ") + (changes.count > 5 ? " and \(changes.count - 5) more" : "")
        throw ETLError(.pipelineChanged,
                       "\(pipeline.file.path) changed since run \(run.id) started (at \(shown)); put the file back as it was to resume, or discard the run and start over with `etl run \(pipeline.file.path) --restart`")
    }

    private func stageContext(for run: RunRecord, pipeline: Pipeline, resumesCompletion: Bool, following: Bool) -> StageContext {
        var runLogger = logger
        runLogger[metadataKey: "run_id"] = "\(run.id)"
        runLogger[metadataKey: "pipeline"] = "\(run.pipeline)"
        return StageContext(runID: run.id, runKey: run.key, storeKey: store.key, pipeline: run.pipeline, logger: runLogger, resumesCompletion: resumesCompletion,
                            mode: pipeline.mode, replacesLive: run.replacesLive, following: following,
                            ledger: pipeline.ledger == nil ? nil : LedgerView(store: store, pipeline: run.pipeline))
    }

    private func execute(_ pipeline: Pipeline, run initial: RunRecord, lock: PipelineLock, following: Bool) async throws -> RunRecord {
        let context = stageContext(for: initial, pipeline: pipeline, resumesCompletion: initial.state == .completing, following: following)
        var stage = Stage.load
        defer { withExtendedLifetime(lock) {} }  // held until the run ends, however it ends
        do {
            return try await drive(pipeline, run: initial, context: context, stage: &stage)
        } catch let error as ETLError where error.code == .interrupted {
            throw error
        } catch let error as ETLError where error.code == .stagingLost {
            // Resuming cannot fix this one: the message says to start over, not to resume.
            try? store.setState(runID: initial.id, .failed, error: redactor.redact(error.message))
            throw error
        } catch {
            let message = redactor.redact(String(describing: error))
            try? store.setState(runID: initial.id, .failed, error: message)
            context.logger.error("run failed in \(stage.rawValue): \(message)", metadata: ["stage": "\(stage.rawValue)"])
            throw PipelineStepFailed(pipeline: pipeline.name, runID: initial.id, stage: stage, message: message, pipelinePath: pipeline.file.path)
        }
    }

    /// The source's reader and the steps left for the runner: a first step that is a flattening
    /// goes to a source that can apply it while decoding.
    /// In `merge` mode a last step keeps one row per key of each batch.
    private func openReader(_ pipeline: Pipeline, after cursor: JSONValue?, context: StageContext) async throws -> (any SourceReader, [any Transform]) {
        let steps = fusingAdjacent(pipeline.transforms)
        var last: [any Transform] = []
        if case .merge(let key, let keep) = pipeline.mode { last = [KeepOnePerKey(key: key, keep: keep)] }
        if let flattening = steps.first?.flattening,
           let reader = try await pipeline.source.openReader(after: cursor, flattening: flattening, context: context) {
            return (reader, Array(steps.dropFirst()) + last)
        }
        return (try await pipeline.source.openReader(after: cursor, fields: pipeline.sourceFields, context: context), steps + last)
    }

    private func drive(_ pipeline: Pipeline, run initial: RunRecord, context: StageContext, stage: inout Stage) async throws -> RunRecord {
        var run = initial
        let logger = context.logger
        // The source needs nothing from the sink: it opens and starts downloading while the sink
        // session opens and the staging is checked.
        let startCursor = try initial.cursorValue()
        let batches = context.resumesCompletion ? nil : BatchPreparer { [self] in
            try await openReader(pipeline, after: startCursor, context: context)
        }
        defer { batches?.cancel() }
        stage = .load
        let session = try await pipeline.sink.openSession(context: context)

        var machine: RunStateMachine
        var expectedTotal: Int?
        if context.resumesCompletion {
            machine = try RunStateMachine(checkpointed: run.batches, expectedStaged: [:], staged: [:], completing: true)
        } else {
            let staged = try await session.landedBatches()
            stage = .checkpoint
            // Staging must still hold every checkpointed batch. Batches written into the live
            // data are the live data's: in `merge` mode later rows may have replaced theirs.
            let expected = !run.replacesLive ? [:] : Dictionary(uniqueKeysWithValues: try store.batches(runID: run.id)
                .filter { $0.state == .loaded && $0.rows > 0 }
                .map { ($0.sequence, StagedBatch(hash: $0.hash, rows: $0.rows)) })
            do {
                machine = try RunStateMachine(checkpointed: run.batches, expectedStaged: expected, staged: staged, completing: false)
            } catch {
                throw ETLError(.stagingLost,
                               "the staging data of run \(run.id) lacks or differs in batches the checkpoint says were loaded (\(error.missingSequences.prefix(5).map(String.init).joined(separator: ", "))); discard the run and start over with `etl run \(pipeline.file.path) --restart`")
            }
            stage = .extract
            expectedTotal = try await batches?.expectedTotal
            try store.setExpectedTotal(runID: run.id, expectedTotal)
        }

        let clock = ContinuousClock()
        let sessionStart = clock.now
        let before = (records: run.records, batches: run.batches, rows: run.rows)
        // The state moves with each checkpoint when batches go straight into the live data, and
        // with completion when the run replaces it.
        let advancesState = pipeline.source.isIncremental
        // Checkpointed batches the sink has not yet been told are ready (`complete`).
        var unpublished = 0
        var lastPublished = clock.now
        /// Tells the sink the checkpointed batches are ready: a load, with which readers' caches start over.
        func publishCheckpointed() async throws {
            stage = .complete
            try await session.complete()
            unpublished = 0
            lastPublished = clock.now
        }
        // The batch between its extraction and its checkpoint. Its rows leave with the load
        // (`load` is then nil), so that the sink can free them as it writes them out.
        // Its ledger entries are read from its rows before they go, and written with its checkpoint.
        var current: (cursor: JSONValue, records: Int, rows: Int, readAt: ContinuousClock.Instant, ledger: [LedgerEntry], load: LoadBatch?)?
        var action = machine.start()
        while true {
            switch action {
            case .extractNext:
                stage = .extract
                let prepared: PreparedBatch?
                do {
                    prepared = try await batches?.next()
                } catch let failure as BatchPreparer.Failed {
                    stage = failure.stage
                    throw failure.underlying
                }
                guard let prepared else {
                    action = machine.sourceExhausted(following: context.following)
                    continue
                }
                let sequence = machine.currentSequence
                FailPoints.hit("after-extract", sequence: sequence)
                let rowCount = prepared.rows.count
                current = (prepared.cursor, prepared.records, rowCount, prepared.readAt, pipeline.ledger?.entries(in: prepared.rows) ?? [],
                           LoadBatch(sequence: sequence, hash: prepared.hash, rows: prepared.rows))
                stage = .checkpoint
                try store.beginBatch(runID: run.id, sequence: sequence, hash: prepared.hash, records: prepared.records, rows: rowCount)
                action = machine.batchExtracted(hash: prepared.hash, rowCount: rowCount)

            case .load(let sequence, let discardingFrom):
                stage = .load
                if let discardingFrom {
                    logger.notice("discarding staged batches from \(discardingFrom): the source now yields different data")
                    try await session.discardBatches(from: discardingFrom)
                }
                if let load = current?.load {
                    current?.load = nil
                    if !load.rows.isEmpty { try await session.load(consume load) }
                }
                FailPoints.hit("after-load", sequence: sequence)
                action = machine.batchLoaded()

            case .checkpoint(let sequence, let alreadyStaged):
                stage = .checkpoint
                if alreadyStaged { logger.notice("batch \(sequence) was already staged before the interruption; not loading it again") }
                guard let batch = current else { preconditionFailure("checkpoint without a batch") }
                let now = clock.now
                let seconds = (now - sessionStart) / .seconds(1)
                func perSecond(_ count: Int) -> Double? { seconds > 0 ? Double(count) / seconds : nil }
                let pace = CheckpointStore.Pace(
                    recordsPerSecond: perSecond(run.records + batch.records - before.records),
                    batchesPerSecond: perSecond(sequence - before.batches), rowsPerSecond: perSecond(run.rows + batch.rows - before.rows),
                    lagSeconds: (now - batch.readAt) / .seconds(1))
                run = try store.commitBatch(runID: run.id, sequence: sequence, cursor: batch.cursor, pace: pace,
                                            advancingState: advancesState && !run.replacesLive, ledger: batch.ledger)
                FailPoints.hit("after-checkpoint", sequence: sequence)
                unpublished += 1
                onProgress(RunProgress(runID: run.id, pipeline: run.pipeline, batches: run.batches, records: run.records, rows: run.rows,
                                       expectedTotal: expectedTotal, recordsPerSecond: pace.recordsPerSecond ?? 0))
                logger.debug("batch \(sequence) checkpointed", metadata: ["rows": "\(batch.rows)"])
                current = nil
                // Only now may the source let go of the input (commit offsets, mark files done).
                stage = .extract
                try await batches?.acknowledge(through: batch.cursor)
                if context.following, unpublished > 0, clock.now - lastPublished >= Self.publishInterval {
                    try await publishCheckpointed()
                    stage = .extract
                }
                action = machine.batchCheckpointed(stopRequested: stop.isRequested)

            case .awaitInput(let discardingFrom):
                stage = .load
                if let discardingFrom { try await session.discardBatches(from: discardingFrom) }
                if unpublished > 0 { try await publishCheckpointed() }
                stage = .checkpoint
                try store.recordCaughtUp(runID: run.id)
                let until = clock.now + pipeline.source.pollInterval
                while !stop.isRequested, clock.now < until {
                    try await Task.sleep(for: min(.milliseconds(50), until - clock.now))
                }
                action = machine.inputAwaited(stopRequested: stop.isRequested)

            case .completeSink(let discardingFrom):
                stage = .complete
                try store.setState(runID: run.id, .completing)
                if let discardingFrom { try await session.discardBatches(from: discardingFrom) }
                FailPoints.hit("before-complete")
                try await session.complete()
                FailPoints.hit("after-complete")
                action = machine.sinkCompleted()

            case .markCompleted:
                stage = .checkpoint
                let finished = try store.completeRun(runID: run.id, advancingState: advancesState)
                logger.info("run completed: \(finished.batches) batches, \(finished.records) records, \(finished.rows) rows loaded")
                return finished

            case .stop:
                if unpublished > 0, !run.replacesLive {
                    // So that the server serves what is loaded; the data is in place either way.
                    do { try await session.complete() } catch { logger.warning("could not record the loaded batches as ready: \(redactor.redact(String(describing: error)))") }
                }
                try store.setState(runID: run.id, .interrupted, error: "stopped by a signal after batch \(run.batches)")
                logger.notice("stopped after batch \(run.batches) with its checkpoint written")
                let next = context.following ? "etl run \(pipeline.file.path) --follow" : "etl resume \(pipeline.file.path)"
                throw ETLError(.interrupted,
                               "run \(run.id) of pipeline \(pipeline.name) stopped after batch \(run.batches), checkpoint written; continue it with: \(next)")
            }
        }
    }
}
