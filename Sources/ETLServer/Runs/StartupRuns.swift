import ETLCore
import Logging
import ServiceLifecycle
import Synchronization

/// `etl serve --run`: runs each pipeline once, next to the server, resuming its latest interrupted
/// run if there is one and starting a new run otherwise. A failure is logged and shown on `/status`
/// (a failed stage with its run, a run that could not start from `RunFailures`); the server keeps
/// serving. Graceful shutdown asks the runner to stop at its next batch boundary,
/// with the checkpoint written, so `etl resume` (or the next `etl serve --run`) continues the run.
struct StartupRuns: Service {
    let pipelines: [Pipeline]
    let runner: Runner
    let failures: RunFailures

    func run() async {
        let runner = runner
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                for pipeline in pipelines {
                    group.addTask { await runOnce(pipeline) }
                }
            }
        } onGracefulShutdown: {
            runner.stop.request()
        }
    }

    private func runOnce(_ pipeline: Pipeline) async {
        var logger = runner.logger
        logger[metadataKey: "pipeline"] = "\(pipeline.name)"
        do {
            if let latest = try runner.store.latestRun(pipeline: pipeline.name), latest.state.isResumable {
                logger.notice("resuming run \(latest.id) (\(latest.state.rawValue)) of pipeline \(pipeline.name)")
                _ = try await runner.resume(pipeline)
            } else {
                logger.notice("starting a run of pipeline \(pipeline.name)")
                _ = try await runner.start(pipeline)
            }
        } catch let error as ETLError where error.code == .interrupted {
            logger.notice("\(error.message)")
        } catch is PipelineStepFailed {
            // The runner has logged the failure and recorded it with the run, where /status shows it.
            logger.notice("the server keeps serving; `etl resume \(pipeline.file.path)` continues the run")
        } catch {
            let message = runner.redactor.redact(String(describing: error))
            failures.record(message, pipeline: pipeline.name)
            logger.error("could not run pipeline \(pipeline.name); the server keeps serving: \(message)")
        }
    }
}

/// Why a pipeline's start-up run could not start (busy, file changed, …), by pipeline name.
final class RunFailures: Sendable {
    private let messages = Mutex<[String: String]>([:])

    func record(_ message: String, pipeline: String) {
        messages.withLock { $0[pipeline] = message }
    }

    func message(pipeline: String) -> String? {
        messages.withLock { $0[pipeline] }
    }
}
