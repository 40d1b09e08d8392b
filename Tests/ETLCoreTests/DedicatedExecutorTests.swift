import Dispatch
import ETLCore
import Foundation
import Testing

struct DedicatedExecutorTests {
    /// What the executor is for: a task that prefers it runs while every thread of the cooperative
    /// pool is busy. Here the pool's threads block until that task releases them; were it queued
    /// on the pool behind them, they would give up after 5 s and the test would fail.
    @Test func aTaskPreferringItRunsWhileEveryPoolThreadIsBusy() async {
        let poolWidth = ProcessInfo.processInfo.activeProcessorCount
        let started = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let blockers = (0..<poolWidth).map { _ in
            Task.detached {
                started.signal()
                return release.wait(timeout: .now() + 5) == .success
            }
        }
        let releaser = Task(executorPreference: DedicatedExecutor(label: "test")) {
            let everyThreadBlocked = (0..<poolWidth).allSatisfy { _ in started.wait(timeout: .now() + 5) == .success }
            for _ in 0..<poolWidth { release.signal() }
            return everyThreadBlocked
        }
        #expect(await releaser.value)
        for blocker in blockers {
            #expect(await blocker.value, "a pool thread waited 5 s: the task did not run on the dedicated executor")
        }
    }
}
