import Logging

/// What a stage gets from the runner besides its config.
public struct StageContext: Sendable {
    public let runID: Int64
    /// The run's name for what sinks keep outside the checkpoint file (staging names, load
    /// records): unique even across checkpoint files, which each number their runs from 1.
    public let runKey: String
    /// The checkpoint store's name: the same in every run and restart that keeps its place in this
    /// store, and different in any other store. What a consumer calls itself to a broker so that,
    /// restarted after a crash, it takes its own place back at once (Kafka's `group.instance.id`).
    public let storeKey: String
    public let pipeline: String
    public let logger: Logger
    /// The run had already started its swap before it was interrupted: the sink must not recreate
    /// staging that the swap may have consumed.
    public let resumesCompletion: Bool
    /// The pipeline's write mode as its file declares it: what the live data is shaped for.
    public let mode: WriteMode
    /// This run stages everything and swaps it in when it completes: the mode is `replace`, or the
    /// run is a full refresh. Otherwise each batch goes straight into the live data.
    public let replacesLive: Bool
    /// The run waits for more input when the source has none (`--follow`) instead of completing.
    public let following: Bool
    /// The pipeline's ledger of handled items, which a `LedgeredSource` skips.
    public let ledger: LedgerView?

    public init(runID: Int64, runKey: String, storeKey: String = "", pipeline: String, logger: Logger, resumesCompletion: Bool = false,
                mode: WriteMode = .replace, replacesLive: Bool = true, following: Bool = false, ledger: LedgerView? = nil) {
        self.runID = runID
        self.runKey = runKey
        self.storeKey = storeKey
        self.pipeline = pipeline
        self.logger = logger
        self.resumesCompletion = resumesCompletion
        self.mode = mode
        self.replacesLive = replacesLive
        self.following = following
        self.ledger = ledger
    }
}

/// A batch from a source: its records, or the rows a flattening reader made of them, with the
/// cursor that resumes right after it.
public struct SourceBatch: Sendable {
    public let rows: Rows
    /// How many source records the batch holds.
    public let records: Int
    /// Opaque to the runner; stored with the batch's checkpoint and handed back on resume.
    public let cursor: JSONValue

    public init(records: [JSONValue], cursor: JSONValue) {
        self.init(rows: .values(records), records: records.count, cursor: cursor)
    }

    public init(rows: Rows, records: Int, cursor: JSONValue) {
        self.rows = rows
        self.records = records
        self.cursor = cursor
    }
}

/// An extract stage. Sources must be deterministic given a cursor: resuming after a batch's cursor
/// yields what an uninterrupted run would have read next, so batches can be recognised by hash.
///
/// An incremental source (`isIncremental`) can also start a new run from the cursor the previous
/// run left (the pipeline's state), reading only what was added or changed since; a source whose
/// cursor is a column value (`updated_at`) keeps the keys of the rows on that value in its cursor
/// and skips them, so the boundary is read once. A continuous source (`isContinuous`) is never
/// exhausted: a run reads what is available, and a following run waits for more.
public protocol Source: Sendable {
    /// A new run in `append` or `merge` mode starts from the previous run's cursor. Default `false`:
    /// every run reads the source from the start.
    var isIncremental: Bool { get }
    /// The source never ends (a queue, an inbox): its pipeline needs `append` or `merge`, and
    /// `etl serve` follows it. Default `false`.
    var isContinuous: Bool { get }
    /// How long a following run waits before asking again after the source had nothing.
    var pollInterval: Duration { get }
    /// Starts reading after `cursor`, or from the beginning when it is `nil`. Only `fields` of
    /// each record are read by the rest of the pipeline: a source may leave out the rest.
    func openReader(after cursor: JSONValue?, fields: FieldSelection, context: StageContext) async throws -> any SourceReader
    /// A reader whose batches are `flattening`'s rows of the records, when the source can make
    /// them while decoding (no record is built); `nil`, the default, when it cannot.
    func openReader(after cursor: JSONValue?, flattening: Flattening, context: StageContext) async throws -> (any SourceReader)?
}

extension Source {
    public var isIncremental: Bool { false }
    public var isContinuous: Bool { false }
    public var pollInterval: Duration { .milliseconds(200) }

    public func openReader(after cursor: JSONValue?, flattening: Flattening, context: StageContext) async throws -> (any SourceReader)? { nil }
}

public protocol SourceReader: AnyObject {
    /// The next batch, or `nil` when the source has nothing more (for now, for a source that can
    /// grow: a following run asks again after `Source.pollInterval`).
    func next() async throws -> SourceBatch?
    /// How many records the whole source holds, when the source can tell (for progress and ETA).
    var expectedTotal: Int? { get }
    /// Everything up to and including the batch that ended at `cursor` is durable in the sink and
    /// checkpointed: the source may now commit offsets or mark files done. Called after each
    /// checkpoint, never before, possibly while `next()` prepares a later batch. Default: nothing.
    func acknowledge(through cursor: JSONValue) async throws
}

extension SourceReader {
    public func acknowledge(through cursor: JSONValue) async throws {}
}

/// A transform step: rows in, rows out, one batch at a time, no state across batches.
public protocol Transform: Sendable {
    func apply(_ rows: Rows) throws -> Rows
    /// What this step reads of its input rows when the steps after it read `output` of its output
    /// rows. Must cover everything that can change the output or fail the step; `.everything`
    /// (the default) is always safe.
    func fieldsRead(toProduce output: FieldSelection) -> FieldSelection
    /// One step doing this step and then `next`, with the same output, when that is cheaper (no
    /// intermediate rows); `nil`, the default, when not.
    func fused(with next: any Transform) -> (any Transform)?
    /// The step as a flattening, which a source may apply while decoding when the step comes
    /// first; `nil`, the default, for steps that are not one.
    var flattening: Flattening? { get }
}

extension Transform {
    public func fieldsRead(toProduce output: FieldSelection) -> FieldSelection { .everything }
    public func fused(with next: any Transform) -> (any Transform)? { nil }
    public var flattening: Flattening? { nil }
}

/// `steps` with each pair that can run as one step (`Transform.fused(with:)`) replaced by it.
func fusingAdjacent(_ steps: [any Transform]) -> [any Transform] {
    var fused: [any Transform] = []
    for step in steps {
        if let previous = fused.last, let both = previous.fused(with: step) {
            fused[fused.count - 1] = both
        } else {
            fused.append(step)
        }
    }
    return fused
}

/// A batch ready for the sink: its sequence number in the run, its content hash and its rows.
public struct LoadBatch: Sendable {
    public let sequence: Int
    public let hash: String
    public let rows: Rows

    public init(sequence: Int, hash: String, rows: Rows) {
        self.sequence = sequence
        self.hash = hash
        self.rows = rows
    }
}

/// What a sink holds of one batch: enough to tell it is the whole batch and the same batch.
public struct StagedBatch: Sendable, Hashable {
    public let hash: String
    public let rows: Int

    public init(hash: String, rows: Int) {
        self.hash = hash
        self.rows = rows
    }
}

/// A load stage. A run that replaces the live data (`StageContext.replacesLive`) writes into its
/// own staging area, which `complete` swaps into place atomically. A run in `append` or `merge`
/// mode writes each batch into the live data, tagged with the run and batch so that `landedBatches`
/// finds it after a crash; `complete` then only records that the data is ready.
public protocol Sink: Sendable {
    /// What the sink writes of each row; `.everything` (the default) for sinks that write rows whole.
    var fieldsRead: FieldSelection { get }
    /// Why this sink cannot load in `mode` (e.g. a primary key column it does not have); empty
    /// when it can. The default supports `replace` only.
    func problems(with mode: WriteMode) -> [String]
    /// Opens (creating or reopening) the staging area of a run.
    func openSession(context: StageContext) async throws -> any SinkSession
    /// Removes what a run that will never complete left behind.
    func discardRun(context: StageContext) async throws
}

extension Sink {
    public var fieldsRead: FieldSelection { .everything }

    public func problems(with mode: WriteMode) -> [String] {
        mode == .replace ? [] : ["this sink supports mode \"replace\" only"]
    }
}

/// The sink contract the runner's exactly-once guarantee rests on (`SinkContractTests` checks it
/// for every sink).
public protocol SinkSession: AnyObject {
    /// This run's batches present in the sink (its staging, or the live data in `append`/`merge`),
    /// by sequence number, with their content hash and row count. A batch that reached the sink
    /// just before a crash, without its checkpoint, shows up here on resume. In `merge` mode a
    /// checkpointed batch may since have been replaced by later rows; only the batches after the
    /// last checkpoint are compared then.
    func landedBatches() async throws -> [Int: StagedBatch]
    /// Removes this run's batches with a sequence number at or above `sequence`.
    func discardBatches(from sequence: Int) async throws
    /// Writes one batch, atomically: after a crash it is either wholly present or absent. The
    /// batch is the sink's: the runner keeps no reference to its rows, so that a sink can free them
    /// as soon as it has written them out. In `merge` mode no two of its rows share a key.
    func load(_ batch: consuming LoadBatch) async throws
    /// Replacing: swaps staging into place in one atomic step. Otherwise: records that the live
    /// data holds this run's batches so far (a following run calls it each time it catches up).
    /// Idempotent: called again after a crash during or after it, it finishes the job or does nothing.
    func complete() async throws
}
