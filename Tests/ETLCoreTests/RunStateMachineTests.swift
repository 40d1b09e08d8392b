@testable import ETLCore
import Testing

struct RunStateMachineTests {
    @Test func freshRunExtractsLoadsCheckpointsThenSwaps() throws {
        var machine = try RunStateMachine(checkpointed: 0, expectedStaged: [], staged: [:], completing: false)
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
        var machine = try RunStateMachine(checkpointed: 4, expectedStaged: [1, 2, 3, 4], staged: [1: "a", 2: "b", 3: "c", 4: "d", 5: "e"], completing: false)
        #expect(machine.start() == .extractNext)
        #expect(machine.batchExtracted(hash: "e", rowCount: 10) == .checkpoint(sequence: 5, alreadyStaged: true))
        #expect(machine.batchCheckpointed(stopRequested: false) == .extractNext)
        #expect(machine.batchExtracted(hash: "f", rowCount: 10) == .load(sequence: 6, discardingFrom: nil))
    }

    @Test func aLandedBatchThatDiffersFromTheSourceIsReplaced() throws {
        var machine = try RunStateMachine(checkpointed: 1, expectedStaged: [1], staged: [1: "a", 2: "stale"], completing: false)
        #expect(machine.batchExtracted(hash: "fresh", rowCount: 2) == .load(sequence: 2, discardingFrom: 2))
        #expect(machine.batchLoaded() == .checkpoint(sequence: 2, alreadyStaged: false))
    }

    @Test func leftoversPastTheEndOfTheSourceAreDiscardedBeforeTheSwap() throws {
        var machine = try RunStateMachine(checkpointed: 2, expectedStaged: [1, 2], staged: [1: "a", 2: "b", 3: "c"], completing: false)
        #expect(machine.sourceExhausted() == .completeSink(discardingFrom: 3))
    }

    @Test func emptyBatchesAreCheckpointedWithoutALoad() throws {
        var machine = try RunStateMachine(checkpointed: 0, expectedStaged: [], staged: [:], completing: false)
        #expect(machine.batchExtracted(hash: "empty", rowCount: 0) == .checkpoint(sequence: 1, alreadyStaged: false))
    }

    @Test func stagingThatLostCheckpointedBatchesIsRefused() {
        #expect(throws: RunStateMachine.StagingLost(missingSequences: [2, 3])) {
            try RunStateMachine(checkpointed: 3, expectedStaged: [1, 2, 3], staged: [1: "a"], completing: false)
        }
    }

    @Test func aRunInterruptedDuringItsSwapOnlyFinishesTheSwap() throws {
        let machine = try RunStateMachine(checkpointed: 7, expectedStaged: [], staged: [:], completing: true)
        #expect(machine.start() == .completeSink(discardingFrom: nil))
    }

    @Test func stopIsHonouredAtTheNextBatchBoundary() throws {
        var machine = try RunStateMachine(checkpointed: 0, expectedStaged: [], staged: [:], completing: false)
        _ = machine.batchExtracted(hash: "h1", rowCount: 1)
        #expect(machine.batchLoaded() == .checkpoint(sequence: 1, alreadyStaged: false))
        #expect(machine.batchCheckpointed(stopRequested: true) == .stop)
    }
}
