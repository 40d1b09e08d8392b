import ETLCore
import Foundation

/// What a per-pipeline gauge is computed from at scrape time.
struct PipelineSnapshot: Sendable {
    let status: PipelineStatus
    /// Runs by state (`StatusRepository.runCounts`).
    let runCounts: [String: Int]
}

/// A gauge that `/metrics` sets for every served pipeline at scrape time, labelled `pipeline` and
/// optionally by one more label. `PipelineGauge.all` lists them.
struct PipelineGauge: Sendable {
    /// The pipeline's samples of this gauge.
    let samples: @Sendable (PipelineSnapshot) -> [GaugeSample]

    /// One sample per pipeline, `name{pipeline="…"}`; none while `value` is nil.
    init(_ name: String, _ help: String, value: @escaping @Sendable (PipelineSnapshot) -> Double?) {
        samples = { snapshot in
            value(snapshot).map { [GaugeSample(name: name, help: help, labels: [("pipeline", snapshot.status.name)], value: $0)] } ?? []
        }
    }

    /// One sample per pipeline and value of `label`, `name{pipeline="…",label="…"}`.
    init(_ name: String, _ help: String, by label: String, values: @escaping @Sendable (PipelineSnapshot) -> [(String, Double)]) {
        samples = { snapshot in
            values(snapshot).map { GaugeSample(name: name, help: help, labels: [("pipeline", snapshot.status.name), (label, $0.0)], value: $0.1) }
        }
    }
}

extension PipelineGauge {
    /// Every per-pipeline gauge of `/metrics`. Adding one is adding a line: a name, its help text,
    /// and its value from the snapshot (nil leaves the pipeline out), or `by:` a second label with
    /// a value for each of its values.
    static let all: [PipelineGauge] = [
        PipelineGauge("etl_runs", "Runs recorded in the checkpoint store, by pipeline and state.", by: "state") { $0.runCounts.map { ($0.key, Double($0.value)) } },
        PipelineGauge("etl_latest_run_batches", "Batches checkpointed by the pipeline's latest run.") { $0.status.run.map { Double($0.batches) } },
        PipelineGauge("etl_latest_run_records", "Source records read by the pipeline's latest run.") { $0.status.run.map { Double($0.records) } },
        PipelineGauge("etl_latest_run_rows", "Rows loaded by the pipeline's latest run.") { $0.status.run.map { Double($0.rows) } },
        PipelineGauge("etl_latest_run_expected_records", "Records the source announced for the latest run, when it did.") { $0.status.run?.expectedTotal.map(Double.init) },
        PipelineGauge("etl_latest_run_records_per_second", "Records per second of the latest run's current session.") { $0.status.run?.recordsPerSecond },
        PipelineGauge("etl_last_load_rows", "Rows of the newest completed load in the sink.") { $0.status.lastLoad.map { Double($0.rows) } },
        PipelineGauge("etl_last_load_timestamp_seconds", "When the newest completed load finished, in seconds since 1970.") { $0.status.lastLoad?.finishedAt },
        PipelineGauge("etl_pipeline_mode", "1 for the pipeline's write mode (replace, append or merge).", by: "mode") { [($0.status.mode.name, 1)] },
        PipelineGauge("etl_latest_run_rows_per_second", "Rows per second of the latest run's current session, while it runs.") { $0.status.liveRun?.rowsPerSecond },
        PipelineGauge("etl_latest_run_batches_per_second", "Batches per second of the latest run's current session, while it runs.") { $0.status.liveRun?.batchesPerSecond },
        PipelineGauge("etl_latest_run_lag_seconds", "How long the last checkpointed batch waited from being read to its checkpoint (0 once a following run caught up), while the run runs.") { $0.status.liveRun?.lagSeconds },
        PipelineGauge("etl_next_run_timestamp_seconds", "When etl serve runs the scheduled pipeline next, in seconds since 1970.") { $0.status.scheduling?.nextRunAt?.timeIntervalSince1970 },
        PipelineGauge("etl_run_failures_in_a_row", "Failed attempts since the pipeline's last successful run under etl serve (retried with backoff).") { $0.status.scheduling.map { Double($0.failure?.attempt ?? 0) } },
        PipelineGauge("etl_report_ready", "1 when the report is served (200), 0 while it answers 503.", by: "report") { $0.status.reports.map { ($0.spec.name, $0.rows == nil ? 0 : 1) } },
    ]
}
