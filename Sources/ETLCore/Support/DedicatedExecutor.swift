import Dispatch

/// A task executor with a thread of its own (a serial dispatch queue). A task that prefers it runs
/// its nonisolated code, and the code of default actors it calls, there instead of on the
/// cooperative pool, whose one thread per core may all be busy with long jobs such as decoding.
/// For short steps on a run's critical path: an answer arrives, the next request goes out.
public final class DedicatedExecutor: TaskExecutor {
    private let queue: DispatchQueue

    public init(label: String) {
        queue = DispatchQueue(label: label)
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
