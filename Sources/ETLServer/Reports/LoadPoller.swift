import ETLCore
import Logging
import ServiceLifecycle

/// Keeps a `ReportRepository` current: twice a second it asks the sink for the pipeline's
/// latest completed load and, when that is a new one, runs each report's query once (with
/// `{limit}` at its maximum) and caches the rows of each ranked list. A failed poll makes the reports answer 503 until
/// a poll succeeds again, so a ClickHouse outage shows within a second or two and heals by itself.
struct LoadPoller: Service {
    let repository: ReportRepository
    let store: CheckpointStore
    let redactor: Redactor
    let logger: Logger

    static let interval = Duration.milliseconds(500)
    /// The latest-load check is a tiny query: a server that takes longer counts as unreachable.
    static let checkTimeout = Duration.seconds(5)
    /// A report query runs once per load, so it may take a while, but not forever: polling (and
    /// with it `/status`) waits for it.
    static let reportTimeout = Duration.seconds(20)

    func run() async {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await poll()
                try? await Task.sleep(for: Self.interval)
            }
        }
    }

    func poll() async {
        let pipeline = repository.pipeline.name
        let before = repository.snapshot
        let runState = currentRunState() ?? before.runState
        do {
            let sink = repository.sink
            let load = try await withTimeout(Self.checkTimeout) { try await sink.latestLoad(pipeline: pipeline) }
            var loaded = load == nil ? nil : before.loaded
            // In append and merge modes a run records a load each time it catches up, so any new record counts.
            if let load, load != before.loaded?.load {
                loaded = ReportRepository.Loaded(load: load, reports: try await queryReports())
                logger.info("serving the reports of pipeline \(pipeline) from run \(load.runID) (\(load.rows) rows loaded)")
            } else if load == nil, !before.polled || before.loaded != nil {
                logger.info("no completed load of pipeline \(pipeline) yet: its reports answer 503 until a run completes")
            }
            if before.error != nil { logger.notice("the loaded data of pipeline \(pipeline) is readable again") }
            repository.update { state in
                state = ReportRepository.State(polled: true, loaded: loaded, error: nil, runState: runState)
            }
        } catch {
            guard !Task.isCancelled else { return }  // shutting down
            let message = redactor.redact(String(describing: error))
            if message != before.error {
                logger.error("cannot read the loaded data of pipeline \(pipeline): \(message); its reports answer 503 until it can")
            }
            repository.update { state in
                state.polled = true
                state.error = message
                state.runState = runState
            }
        }
    }

    /// Runs every ranked list's query once for the newest load; parameterised reports start with
    /// an empty cache.
    private func queryReports() async throws -> [LoadedReport] {
        var reports: [LoadedReport] = []
        for spec in repository.pipeline.reports {
            if spec.limit != nil {
                let rows = try await repository.sink.reportRows(spec, arguments: .none, mode: repository.pipeline.mode, timeout: Self.reportTimeout)
                reports.append(.ranked(try CachedReport(spec: spec, queryRows: rows)))
            } else {
                reports.append(.parameterised(AnswerCache()))
            }
        }
        return reports
    }

    /// The latest run's state as `etl status` shows it (nil when the store cannot be read); read
    /// here, twice a second, so that report requests never touch SQLite.
    private func currentRunState() -> String? {
        guard let runs = try? store.runs(pipeline: repository.pipeline.name, limit: 1) else { return nil }
        return runs.first?.displayedState(statePath: store.path) ?? PipelineStatus.neverRun
    }
}

/// The sink did not answer in time.
struct PollTimeout: Error, CustomStringConvertible {
    let limit: Duration
    var description: String { "no answer within \(limit.components.seconds) s" }
}

/// `operation`, or `PollTimeout` when it takes longer than `limit` (the operation is cancelled).
func withTimeout<T: Sendable>(_ limit: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw PollTimeout(limit: limit)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}
