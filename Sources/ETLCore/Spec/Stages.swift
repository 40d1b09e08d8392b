import Logging

/// What a stage gets from the runner besides its config.
public struct StageContext: Sendable {
    public let runID: Int64
    /// The run's name for what sinks keep outside the checkpoint file (staging names, load
    /// records): unique even across checkpoint files, which each number their runs from 1.
    public let runKey: String
    public let pipeline: String
    public let logger: Logger
    /// The run had already started its swap before it was interrupted: the sink must not recreate
    /// staging that the swap may have consumed.
    public let resumesCompletion: Bool

    public init(runID: Int64, runKey: String, pipeline: String, logger: Logger, resumesCompletion: Bool = false) {
        self.runID = runID
        self.runKey = runKey
        self.pipeline = pipeline
        self.logger = logger
        self.resumesCompletion = resumesCompletion
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
public protocol Source: Sendable {
    /// Starts reading after `cursor`, or from the beginning when it is `nil`. Only `fields` of
    /// each record are read by the rest of the pipeline: a source may leave out the rest.
    func openReader(after cursor: JSONValue?, fields: FieldSelection, context: StageContext) async throws -> any SourceReader
    /// A reader whose batches are `flattening`'s rows of the records, when the source can make
    /// them while decoding (no record is built); `nil`, the default, when it cannot.
    func openReader(after cursor: JSONValue?, flattening: Flattening, context: StageContext) async throws -> (any SourceReader)?
}

extension Source {
    public func openReader(after cursor: JSONValue?, flattening: Flattening, context: StageContext) async throws -> (any SourceReader)? { nil }
}

public protocol SourceReader: AnyObject {
    /// The next batch, or `nil` when the source is exhausted.
    func next() async throws -> SourceBatch?
    /// How many records the whole source holds, when the source can tell (for progress and ETA).
    var expectedTotal: Int? { get }
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

/// A load stage. Each run writes into its own staging area, which `complete` swaps into place
/// atomically.
public protocol Sink: Sendable {
    /// What the sink writes of each row; `.everything` (the default) for sinks that write rows whole.
    var fieldsRead: FieldSelection { get }
    /// Opens (creating or reopening) the staging area of a run.
    func openSession(context: StageContext) async throws -> any SinkSession
    /// Removes what a run that will never complete left behind.
    func discardRun(context: StageContext) async throws
}

extension Sink {
    public var fieldsRead: FieldSelection { .everything }
}

/// The sink contract the runner's exactly-once guarantee rests on.
public protocol SinkSession: AnyObject {
    /// Batches present in staging, by sequence number, with their content hash and row count. A
    /// batch that reached the sink just before a crash, without its checkpoint, shows up here on
    /// resume.
    func landedBatches() async throws -> [Int: StagedBatch]
    /// Removes staged batches with a sequence number at or above `sequence`.
    func discardBatches(from sequence: Int) async throws
    /// Stages one batch, atomically: after a crash it is either wholly present or absent. The
    /// batch is the sink's: the runner keeps no reference to its rows, so that a sink can free them
    /// as soon as it has written them out.
    func load(_ batch: consuming LoadBatch) async throws
    /// Swaps staging into place in one atomic step. Idempotent: called again after a crash during
    /// or after the swap, it finishes the job or does nothing.
    func complete() async throws
}
