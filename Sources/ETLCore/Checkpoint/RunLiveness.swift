import Foundation

extension RunRecord {
    /// The state to show an operator: the recorded state, except that a run recorded as `running`
    /// or `completing` whose pipeline lock nobody holds has crashed (`etl resume` continues it).
    public func displayedState(lockHeld: Bool) -> String {
        let active = state == .running || state == .completing
        return active && !lockHeld ? "crashed" : state.rawValue
    }

    /// `displayedState(lockHeld:)`, looking at the pipeline's lock next to the state file.
    public func displayedState(statePath: String) -> String {
        displayedState(lockHeld: PipelineLock.isHeld(statePath: statePath, pipeline: pipeline))
    }
}

extension RunRecord {
    /// The run as `etl status --json` and the server's `/status` show it, with `state` as
    /// displayed (see `displayedState`): progress, cursor, times and the last error; rate and ETA
    /// only while it runs.
    public func statusJSON(state: String) -> JSONObject {
        let running = state == RunState.running.rawValue
        var object = JSONObject()
        object["run_id"] = .int(id)
        object["pipeline"] = .string(pipeline)
        object["pipeline_path"] = .string(pipelinePath)
        object["state"] = .string(state)
        object["batches"] = .int(Int64(batches))
        object["records"] = .int(Int64(records))
        object["expected_total"] = expectedTotal.map { .int(Int64($0)) } ?? .null
        object["rows"] = .int(Int64(rows))
        object["records_per_second"] = running ? recordsPerSecond.map { .double(($0 * 10).rounded() / 10) } ?? .null : .null
        object["eta_seconds"] = running ? estimatedSecondsLeft.map { .int(Int64($0.rounded())) } ?? .null : .null
        object["cursor"] = cursor.map { text in (try? cursorValue()) ?? .string(text) } ?? .null
        object["mode"] = .string(mode)
        object["full_refresh"] = .bool(fullRefresh)
        object["batches_per_second"] = running ? batchesPerSecond.map { .double(($0 * 10).rounded() / 10) } ?? .null : .null
        object["rows_per_second"] = running ? rowsPerSecond.map { .double(($0 * 10).rounded() / 10) } ?? .null : .null
        object["lag_seconds"] = running ? lagSeconds.map { .double(($0 * 1000).rounded() / 1000) } ?? .null : .null
        object["started_at"] = .string(startedAt.formatted(.iso8601))
        object["updated_at"] = .string(updatedAt.formatted(.iso8601))
        object["finished_at"] = finishedAt.map { .string($0.formatted(.iso8601)) } ?? .null
        object["error"] = error.map(JSONValue.string) ?? .null
        return object
    }
}

extension PipelineState {
    /// The state as `etl state --json` and `/status` show it.
    public var json: JSONObject {
        var object = JSONObject()
        object["cursor"] = (try? cursorValue()) ?? .string(cursor)
        object["run_id"] = .int(runID)
        object["batch"] = .int(Int64(batch))
        object["updated_at"] = .string(updatedAt.formatted(.iso8601))
        return object
    }
}
