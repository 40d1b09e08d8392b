import ETLCore
import Foundation

/// A pipeline the server serves, with its report cache when its sink can be queried.
struct ServedPipeline: Sendable {
    let pipeline: Pipeline
    let reports: ReportRepository?
}

/// Assembles `PipelineStatus`es: runs from the checkpoint store, read on every call (`/status`,
/// `/` and `/metrics` are not the hot path), loads and report rows from the report caches.
struct StatusRepository: Sendable {
    let pipelines: [ServedPipeline]
    let invalid: [UnservedPipeline]
    let store: CheckpointStore
    let board: ScheduleBoard

    func statuses() throws(ETLError) -> [PipelineStatus] {
        var statuses: [PipelineStatus] = []
        for served in pipelines {
            let pipeline = served.pipeline
            let run = try store.runs(pipeline: pipeline.name, limit: 1).first
            let cache = served.reports?.snapshot
            statuses.append(PipelineStatus(
                name: pipeline.name, file: pipeline.file.path, description: pipeline.description,
                state: run?.displayedState(statePath: store.path) ?? PipelineStatus.neverRun, run: run,
                lastLoad: cache?.loaded?.load, sinkError: cache?.error, mode: pipeline.mode,
                pipelineState: try store.state(pipeline: pipeline.name), schedule: pipeline.schedule, scheduling: board.entry(pipeline.name),
                reports: pipeline.reports.enumerated().map { index, spec in
                    PipelineStatus.Report(spec: spec, loaded: cache?.error == nil ? cache?.loaded?.reports[index] : nil)
                },
                files: pipeline.ledger == nil ? nil : try store.ledgerSummary(pipeline: pipeline.name),
                problems: []))
        }
        for file in invalid {
            statuses.append(PipelineStatus(
                name: URL(fileURLWithPath: file.path).deletingPathExtension().lastPathComponent, file: file.path, description: nil,
                state: PipelineStatus.invalid, run: nil, lastLoad: nil, sinkError: nil, mode: .replace, pipelineState: nil, schedule: nil,
                scheduling: nil, reports: [], files: nil,
                problems: file.problems))
        }
        return statuses
    }

    /// How many runs of the pipeline are in each state (the latest as `statuses()` shows it).
    func runCounts(pipeline: String) throws(ETLError) -> [String: Int] {
        var counts: [String: Int] = [:]
        for (index, run) in try store.runs(pipeline: pipeline, limit: Int(Int32.max)).enumerated() {
            counts[index == 0 ? run.displayedState(statePath: store.path) : run.displayedState(lockHeld: false), default: 0] += 1
        }
        return counts
    }
}
