@testable import ETLCore
import Testing

struct RunStateMachineTests {
    func batch(_ hash: String) -> StagedBatch { StagedBatch(hash: hash, rows: 10) }

    @Test func freshRunExtractsLoadsCheckpointsThenSwaps() throws {
        var machine = try RunStateMachine(checkpointed: 0, expectedStaged: [:], staged: [:], completing: false)
        #expect(machine.start() == .extractNext)
        #expect(machine.batchExtracted(hash: "h1", rowCount: 3) == .load(sequence: 1, discardingFrom: nil))
        #expect(machine.batchLoaded() == .checkpoint(sequence: 1, alreadyStaged: false))
        #expect(machine.batchCheckpointed(stopRequested: false) == .extractNext)
        #expect(machine.batchExtracted(hash: "h2", rowCount: 1) == .load(sequence: 2, discardingFrom: nil))
        #expect(machine.batchLoaded() == .checkpoint(sequence: 2, alreadyStaged: false))
        #expect(machine.batchCheckpointed(stopRequested: false) == .extractNext)
        #expect(machine.sourceExhausted() == .completeSink(discardingFrom: nil))
        #expect(machine.sinkCompleted() == .markCompleted)
    }

    @Test func aBatchThatLandedBeforeTheCrashIsOnlyCheckpointed() throws {
        let staged = (1...5).reduce(into: [Int: StagedBatch]()) { $0[$1] = batch("h\($1)") }
        var machine = try RunStateMachine(checkpointed: 4, expectedStaged: staged.filter { $0.key <= 4 }, staged: staged, completing: false)
        #expect(machine.start() == .extractNext)
        #expect(machine.batchExtracted(hash: "h5", rowCount: 10) == .checkpoint(sequence: 5, alreadyStaged: true))
        #expect(machine.batchCheckpointed(stopRequested: false) == .extractNext)
        #expect(machine.batchExtracted(hash: "f", rowCount: 10) == .load(sequence: 6, discardingFrom: nil))
    }

    @Test func aLandedBatchThatDiffersFromTheSourceIsReplaced() throws {
        var machine = try RunStateMachine(checkpointed: 1, expectedStaged: [1: batch("a")], staged: [1: batch("a"), 2: batch("stale")], completing: false)
        #expect(machine.batchExtracted(hash: "fresh", rowCount: 10) == .load(sequence: 2, discardingFrom: 2))
        #expect(machine.batchLoaded() == .checkpoint(sequence: 2, alreadyStaged: false))
    }

    /// Same hash but fewer rows: only part of the batch is in staging (e.g. a half-applied delete).
    @Test func aPartiallyStagedBatchIsReplaced() throws {
        var machine = try RunStateMachine(checkpointed: 0, expectedStaged: [:], staged: [1: StagedBatch(hash: "h", rows: 4)], completing: false)
        #expect(machine.batchExtracted(hash: "h", rowCount: 10) == .load(sequence: 1, discardingFrom: 1))
    }

    @Test func leftoversPastTheEndOfTheSourceAreDiscardedBeforeTheSwap() throws {
        var machine = try RunStateMachine(checkpointed: 2, expectedStaged: [1: batch("a"), 2: batch("b")], staged: [1: batch("a"), 2: batch("b"), 3: batch("c")], completing: false)
        #expect(machine.sourceExhausted() == .completeSink(discardingFrom: 3))
    }

    @Test func emptyBatchesAreCheckpointedWithoutALoad() throws {
        var machine = try RunStateMachine(checkpointed: 0, expectedStaged: [:], staged: [:], completing: false)
        #expect(machine.batchExtracted(hash: "empty", rowCount: 0) == .checkpoint(sequence: 1, alreadyStaged: false))
    }

    @Test func stagingThatLostCheckpointedBatchesIsRefused() {
        #expect(throws: RunStateMachine.StagingLost(missingSequences: [2, 3])) {
            try RunStateMachine(checkpointed: 3, expectedStaged: [1: batch("a"), 2: batch("b"), 3: batch("c")],
                                staged: [1: batch("a"), 3: StagedBatch(hash: "c", rows: 9)], completing: false)
        }
    }

    @Test func aRunInterruptedDuringItsSwapOnlyFinishesTheSwap() throws {
        let machine = try RunStateMachine(checkpointed: 7, expectedStaged: [:], staged: [:], completing: true)
        #expect(machine.start() == .completeSink(discardingFrom: nil))
    }

    @Test func stopIsHonouredAtTheNextBatchBoundary() throws {
        var machine = try RunStateMachine(checkpointed: 0, expectedStaged: [:], staged: [:], completing: false)
        _ = machine.batchExtracted(hash: "h1", rowCount: 1)
        #expect(machine.batchLoaded() == .checkpoint(sequence: 1, alreadyStaged: false))
        #expect(machine.batchCheckpointed(stopRequested: true) == .stop)
    }
}

/// A following run: caught up, it waits instead of completing, and stops only between waits or batches.
struct FollowingStateMachineTests {
    @Test func aCaughtUpFollowingRunWaitsAndReadsAgain() throws {
        var machine = try RunStateMachine(checkpointed: 0, expectedStaged: [:], staged: [:], completing: false)
        #expect(machine.start() == .extractNext)
        #expect(machine.sourceExhausted(following: true) == .awaitInput(discardingFrom: nil))
        #expect(machine.inputAwaited(stopRequested: false) == .extractNext)
        #expect(machine.batchExtracted(hash: "a", rowCount: 3) == .load(sequence: 1, discardingFrom: nil))
        #expect(machine.batchLoaded() == .checkpoint(sequence: 1, alreadyStaged: false))
        #expect(machine.batchCheckpointed(stopRequested: false) == .extractNext)
        #expect(machine.sourceExhausted(following: true) == .awaitInput(discardingFrom: nil))
        #expect(machine.inputAwaited(stopRequested: true) == .stop)
    }

    @Test func leftoversAreDiscardedBeforeWaiting() throws {
        var machine = try RunStateMachine(checkpointed: 2, expectedStaged: [:], staged: [3: StagedBatch(hash: "x", rows: 1)], completing: false)
        #expect(machine.sourceExhausted(following: true) == .awaitInput(discardingFrom: 3))
        #expect(machine.inputAwaited(stopRequested: false) == .extractNext)
        #expect(machine.batchExtracted(hash: "y", rowCount: 2) == .load(sequence: 3, discardingFrom: nil))
    }
}
