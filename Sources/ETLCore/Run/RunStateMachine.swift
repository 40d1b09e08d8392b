/// Decides what the runner does next, from what has happened so far. Pure: events in, actions
/// out, no I/O, so every crash and resume path can be tested without a database or a sink.
///
/// Batches are numbered from 1. Checkpointed batches are durable in the checkpoint store; the sink
/// may hold more than that (a batch loaded just before a crash, its checkpoint never written). On
/// resume the machine compares the regenerated batch with what the sink holds: the same hash and
/// row count mean it already landed and is only checkpointed; anything else is discarded and loaded
/// anew.
public struct RunStateMachine: Sendable {
    public enum Action: Equatable, Sendable {
        /// Read, transform and hash the next batch, then report `batchExtracted`.
        case extractNext
        /// Load batch `sequence`; first discard staged batches from `discardingFrom` on, if set.
        case load(sequence: Int, discardingFrom: Int?)
        /// Record batch `sequence` as loaded and advance the cursor, in one transaction.
        /// `alreadyStaged` tells that the load was skipped because the sink already had it.
        case checkpoint(sequence: Int, alreadyStaged: Bool)
        /// A following run caught up with its source: first discard batches from `discardingFrom`
        /// on, if set, then wait for more input and report `inputAwaited`.
        case awaitInput(discardingFrom: Int?)
        /// Swap staging into place; first discard staged batches from `discardingFrom` on, if set.
        case completeSink(discardingFrom: Int?)
        case markCompleted
        /// A stop was requested; everything up to the last checkpoint is durable.
        case stop
    }

    /// The sink's staging does not hold what the checkpoint store says was loaded.
    public struct StagingLost: Error, Sendable, Equatable {
        public let missingSequences: [Int]
    }

    private var nextSequence: Int
    /// Staged batches beyond the last checkpoint, by sequence.
    private var unconfirmed: [Int: StagedBatch]
    private var completing: Bool

    /// The sequence number of the batch being extracted or loaded.
    public var currentSequence: Int { nextSequence }

    /// - Parameters:
    ///   - checkpointed: how many batches are checkpointed (sequences `1...checkpointed`).
    ///   - expectedStaged: the checkpointed batches that had rows, which the sink must still hold
    ///     exactly so.
    ///   - staged: what the sink reports as landed.
    ///   - completing: the run had reached its swap; nothing is extracted again.
    public init(checkpointed: Int, expectedStaged: [Int: StagedBatch], staged: [Int: StagedBatch], completing: Bool) throws(StagingLost) {
        if !completing {
            let missing = expectedStaged.filter { staged[$0.key] != $0.value }.keys.sorted()
            guard missing.isEmpty else { throw StagingLost(missingSequences: missing) }
        }
        nextSequence = checkpointed + 1
        unconfirmed = staged.filter { $0.key > checkpointed }
        self.completing = completing
    }

    public func start() -> Action {
        completing ? .completeSink(discardingFrom: nil) : .extractNext
    }

    /// A batch was extracted and transformed into `rowCount` rows with content hash `hash`.
    public mutating func batchExtracted(hash: String, rowCount: Int) -> Action {
        let sequence = nextSequence
        if unconfirmed[sequence] == StagedBatch(hash: hash, rows: rowCount) {
            unconfirmed[sequence] = nil
            return .checkpoint(sequence: sequence, alreadyStaged: true)
        }
        let discardFrom = unconfirmed.isEmpty ? nil : sequence
        unconfirmed.removeAll()
        if rowCount == 0 {
            // Nothing to stage; only a stale leftover, if any, must go.
            return discardFrom == nil ? .checkpoint(sequence: sequence, alreadyStaged: false) : .load(sequence: sequence, discardingFrom: discardFrom)
        }
        return .load(sequence: sequence, discardingFrom: discardFrom)
    }

    public func batchLoaded() -> Action {
        .checkpoint(sequence: nextSequence, alreadyStaged: false)
    }

    /// The checkpoint of the current batch is durable. A stop is honoured only here, at a batch
    /// boundary, so that an interrupted run never leaves a batch half done.
    public mutating func batchCheckpointed(stopRequested: Bool) -> Action {
        nextSequence += 1
        return stopRequested ? .stop : .extractNext
    }

    /// The source has no more batches. Staged leftovers beyond the end (the source now yields
    /// fewer batches than before the crash) are discarded first. A following run then waits for
    /// more; any other completes.
    public mutating func sourceExhausted(following: Bool = false) -> Action {
        let discardFrom = unconfirmed.keys.min()
        unconfirmed.removeAll()
        if following { return .awaitInput(discardingFrom: discardFrom) }
        completing = true
        return .completeSink(discardingFrom: discardFrom)
    }

    /// A following run waited for input; a stop is honoured here as at a batch boundary.
    public func inputAwaited(stopRequested: Bool) -> Action {
        stopRequested ? .stop : .extractNext
    }

    public func sinkCompleted() -> Action {
        .markCompleted
    }
}
