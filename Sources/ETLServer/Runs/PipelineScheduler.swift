import ETLCore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Runs pipelines next to the server (`etl serve`):
/// - a pipeline whose source never ends is followed (`etl run --follow`), from start-up on;
/// - a pipeline with a `schedule` runs on it: the next run starts the interval after the previous
///   one ended (or at the next cron time after it), so runs never overlap;
/// - with `--run`, every other pipeline runs once at start-up (a scheduled one at once, too).
///
/// Each run resumes the pipeline's unfinished run if there is one. A run that fails is retried
/// with exponential backoff until one completes, and `/status` says so meanwhile; a failure that
/// needs a decision (the pipeline file changed, staging was lost) is shown and not retried.
/// Graceful shutdown asks the runner to stop at its next batch boundary, with the checkpoint
/// written, and ends the waits.
struct PipelineScheduler: Service {
    enum Plan: Sendable {
        case once
        case follow
        case scheduled(Schedule, atStartup: Bool)
    }

    let pipelines: [(pipeline: Pipeline, plan: Plan)]
    let runner: Runner
    let board: ScheduleBoard
    /// Between attempts of a failing run.
    let retry: RetryPolicy

    /// What the server does with a pipeline: nil for one it only serves.
    static func plan(for pipeline: Pipeline, runAtStartup: Bool) -> Plan? {
        if pipeline.source.isContinuous { return .follow }
        if let schedule = pipeline.schedule { return .scheduled(schedule, atStartup: runAtStartup) }
        return runAtStartup ? .once : nil
    }

    func run() async {
        let runner = runner
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                for (pipeline, plan) in pipelines {
                    group.addTask { await drive(pipeline, plan) }
                }
            }
        } onGracefulShutdown: {
            runner.stop.request()
        }
    }

    private func drive(_ pipeline: Pipeline, _ plan: Plan) async {
        switch plan {
        case .once:
            _ = await runUntilDone(pipeline, follow: false)
        case .follow:
            _ = await runUntilDone(pipeline, follow: true)
        case .scheduled(let schedule, let atStartup):
            var next = atStartup ? Date() : firstRun(of: pipeline, on: schedule)
            while !runner.stop.isRequested {
                board.update(pipeline.name) { $0.nextRunAt = next }
                logger(pipeline).info("next run of pipeline \(pipeline.name) at \(next.formatted(.iso8601)) (\(schedule))")
                await sleep(until: next)
                guard !runner.stop.isRequested else { return }
                board.update(pipeline.name) { $0.nextRunAt = nil }
                guard await runUntilDone(pipeline, follow: false) else { return }
                next = schedule.nextRun(after: Date())
            }
        }
    }

    /// Now, when the pipeline has an unfinished run or never completed one, or its time has come;
    /// else the scheduled time after its last completed run.
    private func firstRun(of pipeline: Pipeline, on schedule: Schedule) -> Date {
        let now = Date()
        guard let runs = try? runner.store.runs(pipeline: pipeline.name, limit: 50), let latest = runs.first, !latest.state.isResumable,
              let finished = runs.first(where: { $0.state == .completed })?.finishedAt
        else { return now }
        return max(now, schedule.nextRun(after: finished))
    }

    /// Runs the pipeline (resuming its unfinished run, if any) until a run completes: true; or
    /// until the server stops or the failure needs a decision: false.
    private func runUntilDone(_ pipeline: Pipeline, follow: Bool) async -> Bool {
        let logger = logger(pipeline)
        var attempt = 0
        var random = SystemRandomNumberGenerator()
        while !runner.stop.isRequested {
            do {
                if !follow, let latest = try runner.store.latestRun(pipeline: pipeline.name), latest.state.isResumable {
                    logger.notice("resuming run \(latest.id) (\(latest.state.rawValue)) of pipeline \(pipeline.name)")
                    _ = try await runner.resume(pipeline)
                } else {
                    logger.notice("starting a run of pipeline \(pipeline.name)\(follow ? ", following its source" : "")")
                    _ = try await runner.start(pipeline, options: RunOptions(follow: follow))
                }
                board.update(pipeline.name) { $0.failure = nil }
                return true
            } catch let error as ETLError where error.code == .interrupted {
                logger.notice("\(error.message)")
                return false
            } catch {
                let message = runner.redactor.redact(String(describing: error))
                if let error = error as? ETLError, [.pipelineChanged, .stagingLost, .invalidPipeline].contains(error.code) {
                    board.update(pipeline.name) { $0.failure = .init(message: message, attempt: attempt + 1, retryAt: nil) }
                    logger.error("cannot run pipeline \(pipeline.name), and retrying will not help: \(message)")
                    return false
                }
                attempt += 1
                let delay = retry.delay(beforeRetry: attempt, using: &random)
                let retryAt = Date().addingTimeInterval(delay / .seconds(1))
                board.update(pipeline.name) { $0.failure = .init(message: message, attempt: attempt, retryAt: retryAt) }
                // A failed stage was logged by the runner and recorded with the run.
                if !(error is PipelineStepFailed) { logger.error("could not run pipeline \(pipeline.name): \(message)") }
                logger.notice("the server keeps serving; retrying pipeline \(pipeline.name) in \(delay) (attempt \(attempt + 1))")
                await sleep(until: retryAt)
            }
        }
        return false
    }

    /// Sleeps until `date`, or until the server stops.
    private func sleep(until date: Date) async {
        while !runner.stop.isRequested, !Task.isCancelled {
            let left = date.timeIntervalSinceNow
            guard left > 0 else { return }
            try? await Task.sleep(for: .milliseconds(Int(min(left, 0.1) * 1000) + 1))
        }
    }

    private func logger(_ pipeline: Pipeline) -> Logger {
        var logger = runner.logger
        logger[metadataKey: "pipeline"] = "\(pipeline.name)"
        return logger
    }
}

/// What the scheduler tells `/status`, the page and `/metrics` about each pipeline it runs.
final class ScheduleBoard: Sendable {
    struct Entry: Sendable {
        /// When a scheduled pipeline runs next (nil while it runs).
        var nextRunAt: Date?
        /// The last attempt failed: why, and when it is tried again (nil: not retried).
        var failure: Failure?
    }

    struct Failure: Sendable {
        let message: String
        let attempt: Int
        let retryAt: Date?
    }

    private let entries = Mutex<[String: Entry]>([:])

    func update(_ pipeline: String, _ change: (inout Entry) -> Void) {
        entries.withLock { change(&$0[pipeline, default: Entry()]) }
    }

    func entry(_ pipeline: String) -> Entry? {
        entries.withLock { $0[pipeline] }
    }
}
