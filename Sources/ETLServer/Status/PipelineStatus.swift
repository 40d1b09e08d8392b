import ETLCore
import Foundation

/// One pipeline as `/status`, the page and `/metrics` show it.
struct PipelineStatus: Sendable {
    static let neverRun = "never_run"
    static let invalid = "invalid"

    let name: String
    /// The pipeline file.
    let file: String
    let description: String?
    /// `never_run`, a run state (`running`, `completing`, `completed`, `failed`, `interrupted`,
    /// `abandoned`), `crashed` (recorded as running, but nobody holds its lock) or `invalid`.
    let state: String
    /// The latest run.
    let run: RunRecord?
    /// The newest completed load the sink records.
    let lastLoad: CompletedLoad?
    /// Why the sink's loaded data cannot be read right now.
    let sinkError: String?
    /// How runs write (`load.mode`).
    let mode: WriteMode
    /// Where the next incremental run starts, when the pipeline carries state.
    let pipelineState: PipelineState?
    let schedule: Schedule?
    /// What the server's scheduler says: the next run, or the failure it retries.
    let scheduling: ScheduleBoard.Entry?
    let reports: [Report]
    /// Files done, failed and pending, for a pipeline that keeps a ledger.
    let files: LedgerSummary?
    /// What is wrong with an invalid pipeline file.
    let problems: [Diagnostic]

    struct Report: Sendable {
        let spec: ReportSpec
        /// The report for the last completed load, when it can be served.
        let loaded: LoadedReport?

        /// A ranked list's rows of the last completed load, when they can be served.
        var rows: CachedReport? { loaded?.rankedRows }
    }

    /// The latest run while it runs (its rates and lag mean something only then).
    var liveRun: RunRecord? { state == RunState.running.rawValue ? run : nil }

    /// A run is under way (this process's or another's): the page refreshes itself.
    var isActive: Bool { state == RunState.running.rawValue || state == RunState.completing.rawValue }

    var json: JSONValue {
        var object = JSONObject()
        object["name"] = .string(name)
        object["file"] = .string(file)
        object["description"] = description.map(JSONValue.string) ?? .null
        object["state"] = .string(state)
        if state == Self.invalid {
            object["problems"] = .array(problems.map { .object(JSONObject([("path", .string($0.path)), ("message", .string($0.message))])) })
            return .object(object)
        }
        object["run"] = run.map { JSONValue.object($0.statusJSON(state: state)) } ?? .null
        object["last_load"] = lastLoad.map { load in
            .object(JSONObject([("run_id", .int(load.runID)), ("finished_at", .string(Self.time(load.finishedAt))), ("rows", .int(Int64(load.rows)))]))
        } ?? .null
        object["last_error"] = run?.error.map(JSONValue.string) ?? .null
        object["sink_error"] = sinkError.map(JSONValue.string) ?? .null
        object["mode"] = .string(mode.name)
        object["pipeline_state"] = pipelineState.map { .object($0.json) } ?? .null
        object["schedule"] = schedule.map { schedule in
            .object(JSONObject([("description", .string(schedule.description)),
                                ("next_run_at", scheduling?.nextRunAt.map { .string($0.formatted(.iso8601)) } ?? .null)]))
        } ?? .null
        object["run_error"] = scheduling?.failure.map { failure in
            .object(JSONObject([("message", .string(failure.message)), ("attempt", .int(Int64(failure.attempt))),
                                ("retry_at", failure.retryAt.map { .string($0.formatted(.iso8601)) } ?? .null)]))
        } ?? .null
        object["files"] = files?.json ?? .null
        object["reports"] = .array(reports.map { report in
            .object(JSONObject([
                ("name", .string(report.spec.name)), ("path", .string(report.spec.path)), ("ready", .bool(report.loaded != nil)),
            ]))
        })
        return .object(object)
    }

    static func time(_ secondsSince1970: Double) -> String {
        Date(timeIntervalSince1970: secondsSince1970).formatted(.iso8601)
    }
}
