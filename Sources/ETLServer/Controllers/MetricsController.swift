import ETLCore
import Hummingbird

/// `GET /metrics`: Prometheus text format 0.0.4. Runs by pipeline and state, the latest run's
/// progress, the last completed load, report readiness, and the server's own request counts and
/// latencies.
struct MetricsController {
    let statuses: StatusRepository
    let httpMetrics: HTTPMetrics

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("/metrics") { _, _ in metrics() }
    }

    private func metrics() -> Response {
        var exposition = PrometheusExposition()
        do {
            try pipelineMetrics(into: &exposition)
        } catch {
            return JSONResponse.error(.serviceUnavailable, "cannot read the checkpoint store: \(error)")
        }
        var body = Array(exposition.text.utf8)
        httpMetrics.emit(into: &body)
        return Response(status: .ok, headers: [.contentType: PrometheusExposition.contentType],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    private func pipelineMetrics(into exposition: inout PrometheusExposition) throws(ETLError) {
        let pipelines = try statuses.statuses()
        let valid = pipelines.filter { $0.state != PipelineStatus.invalid }

        exposition.family("etl_runs", type: "gauge", help: "Runs recorded in the checkpoint store, by pipeline and state.")
        for pipeline in valid {
            for (state, count) in try statuses.runCounts(pipeline: pipeline.name).sorted(by: { $0.key < $1.key }) {
                exposition.sample("etl_runs", ["pipeline": pipeline.name, "state": state], Double(count))
            }
        }
        let latest: [(String, String, (RunRecord) -> Double?)] = [
            ("etl_latest_run_batches", "Batches checkpointed by the pipeline's latest run.", { Double($0.batches) }),
            ("etl_latest_run_records", "Source records read by the pipeline's latest run.", { Double($0.records) }),
            ("etl_latest_run_rows", "Rows loaded by the pipeline's latest run.", { Double($0.rows) }),
            ("etl_latest_run_expected_records", "Records the source announced for the latest run, when it did.", { $0.expectedTotal.map(Double.init) }),
            ("etl_latest_run_records_per_second", "Records per second of the latest run's current session.", { $0.recordsPerSecond }),
        ]
        for (name, help, value) in latest {
            exposition.family(name, type: "gauge", help: help)
            for pipeline in valid {
                if let run = pipeline.run, let number = value(run) { exposition.sample(name, ["pipeline": pipeline.name], number) }
            }
        }
        exposition.family("etl_last_load_rows", type: "gauge", help: "Rows of the newest completed load in the sink.")
        for pipeline in valid {
            if let load = pipeline.lastLoad { exposition.sample("etl_last_load_rows", ["pipeline": pipeline.name], Double(load.rows)) }
        }
        exposition.family("etl_last_load_timestamp_seconds", type: "gauge", help: "When the newest completed load finished, in seconds since 1970.")
        for pipeline in valid {
            if let load = pipeline.lastLoad { exposition.sample("etl_last_load_timestamp_seconds", ["pipeline": pipeline.name], load.finishedAt) }
        }
        exposition.family("etl_report_ready", type: "gauge", help: "1 when the report is served (200), 0 while it answers 503.")
        for pipeline in valid {
            for report in pipeline.reports {
                exposition.sample("etl_report_ready", ["pipeline": pipeline.name, "report": report.spec.name], report.rows == nil ? 0 : 1)
            }
        }
        exposition.family("etl_invalid_pipeline_files", type: "gauge", help: "Pipeline files that failed validation and are not served.")
        exposition.sample("etl_invalid_pipeline_files", [:], Double(pipelines.count - valid.count))
    }
}
