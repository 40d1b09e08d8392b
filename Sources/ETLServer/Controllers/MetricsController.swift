import ETLCore
import Hummingbird

/// `GET /metrics`: Prometheus text format 0.0.4. Runs by pipeline and state, the latest run's
/// progress, the last completed load, report readiness (`PipelineGauge.all`), invalid pipeline
/// files, and the server's own request counts and latencies (`HTTPMetrics`).
///
/// The pipeline gauges are computed from the checkpoint store and the report caches at each
/// scrape; `ScrapedGauges` says what happens to a label set that no longer applies.
struct MetricsController {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    let statuses: StatusRepository
    let httpMetrics: HTTPMetrics
    let gauges = ScrapedGauges()

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("/metrics") { _, _ in metrics() }
    }

    private func metrics() -> Response {
        let samples: [GaugeSample]
        do {
            samples = try gaugeSamples()
        } catch {
            return JSONResponse.error(.serviceUnavailable, "cannot read the checkpoint store: \(error)")
        }
        var exposition: [UInt8] = []
        gauges.emit(samples, into: &exposition)
        httpMetrics.emit(into: &exposition)
        return Response(status: .ok, headers: [.contentType: Self.contentType],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: exposition)))
    }

    private func gaugeSamples() throws(ETLError) -> [GaugeSample] {
        let pipelines = try statuses.statuses()
        var snapshots: [PipelineSnapshot] = []
        for pipeline in pipelines where pipeline.state != PipelineStatus.invalid {
            snapshots.append(PipelineSnapshot(status: pipeline, runCounts: try statuses.runCounts(pipeline: pipeline.name)))
        }
        let invalid = GaugeSample(name: "etl_invalid_pipeline_files", help: "Pipeline files that failed validation and are not served.",
                                  labels: [], value: Double(pipelines.count - snapshots.count))
        return PipelineGauge.all.flatMap { gauge in snapshots.flatMap(gauge.samples) } + [invalid]
    }
}
