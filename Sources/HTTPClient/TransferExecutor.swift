import Dispatch

/// Runs jobs on the serial queue that a one-connection client's transfers run on (see
/// `HTTPClient.transferExecutor`).
final class TransferExecutor: TaskExecutor {
    private let queue: DispatchQueue

    init(queue: DispatchQueue) {
        self.queue = queue
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
