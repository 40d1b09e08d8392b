import ETLCore
import Hummingbird
import Logging
import ServiceLifecycle

/// `etl serve`: status and the reports of the served pipelines over HTTP (Hummingbird).
///
/// Routes: `/` (HTML page), `/status` (JSON), `/healthz`, `/metrics` (Prometheus), each
/// pipeline's reports at their declared paths, and its ingest routes, if it declares any. Report rows come from a cache per completed load
/// that a poller per pipeline keeps current; requests never wait on the sink or the checkpoint store.
public struct ReportServer: Sendable {
    let served: ServedPipelines
    let store: CheckpointStore
    let redactor: Redactor
    let logger: Logger
    /// When set, every ingest route needs `Authorization: Bearer <token>` (`ETL_INGEST_TOKEN`).
    let ingestToken: String?

    public init(pipelines: ServedPipelines, store: CheckpointStore, redactor: Redactor, logger: Logger, ingestToken: String? = nil) {
        served = pipelines
        self.store = store
        self.redactor = redactor
        self.logger = logger
        self.ingestToken = ingestToken
        if let ingestToken { redactor.register(ingestToken) }
    }

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully in reverse order of start: the
    /// runs stop at their next batch boundary with the checkpoint written (the server still
    /// answers meanwhile), then the pollers, then the server.
    ///
    /// - Parameters:
    ///   - runner: runs the pipelines that the server runs (`PipelineScheduler`): followed,
    ///     scheduled, and with `runAtStartup` every other one once.
    ///   - onListening: called with the bound port (useful with port 0) once connections are accepted.
    public func run(host: String, port: Int, runner: Runner, runAtStartup: Bool, retry: RetryPolicy = RetryPolicy(initialDelay: .seconds(1), maximumDelay: .seconds(300)),
                    onListening: @escaping @Sendable (Int) -> Void) async throws {
        let pipelines = served.pipelines.map { pipeline in
            ServedPipeline(pipeline: pipeline, reports: (pipeline.sink as? any QueryableSink).map { ReportRepository(pipeline: pipeline, sink: $0) })
        }
        let board = ScheduleBoard()
        let statuses = StatusRepository(pipelines: pipelines, invalid: served.invalid, store: store, board: board)
        let httpMetrics = HTTPMetrics()

        let router = Router(context: BasicRequestContext.self, options: .autoGenerateHeadEndpoints)
        PageController(statuses: statuses).addRoutes(to: router)
        StatusController(statuses: statuses).addRoutes(to: router)
        MetricsController(statuses: statuses, httpMetrics: httpMetrics).addRoutes(to: router)
        for repository in pipelines.compactMap(\.reports) {
            ReportController(repository: repository, redactor: redactor).addRoutes(to: router)
        }
        // Publishers open before the server listens: a topic that cannot be written stops it.
        var publishers: [any TopicPublisher] = []
        for pipeline in served.pipelines {
            guard let ingest = pipeline.ingest, let source = pipeline.source as? any PublishingSource else { continue }
            let publisher = try await source.makePublisher(logger: logger)
            publishers.append(publisher)
            IngestController(pipeline: pipeline.name, spec: ingest, publisher: publisher, token: ingestToken.map { Array($0.utf8) }).addRoutes(to: router)
        }
        for pipeline in served.pipelines {
            guard let source = pipeline.source as? any NotifiedSource, let path = source.notificationPath else { continue }
            NotificationController(pipeline: pipeline.name, path: path, source: source, store: store, token: ingestToken.map { Array($0.utf8) })
                .addRoutes(to: router)
        }
        router.get("**") { _, _ in
            JSONResponse.error(.notFound, "no such page; the server answers /, /status, /healthz, /metrics and the report paths listed in /status")
        }
        let app = Application(
            responder: ObservedResponder(inner: router.buildResponder(), metrics: httpMetrics, logger: logger),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? port) },
            logger: logger)

        var services = [ServiceGroupConfiguration.ServiceConfiguration(service: app)]
        for repository in pipelines.compactMap(\.reports) {
            var pollerLogger = logger
            pollerLogger[metadataKey: "pipeline"] = "\(repository.pipeline.name)"
            services.append(.init(service: LoadPoller(repository: repository, store: store, redactor: redactor, logger: pollerLogger)))
        }
        let planned = served.pipelines.compactMap { pipeline in
            PipelineScheduler.plan(for: pipeline, runAtStartup: runAtStartup).map { (pipeline: pipeline, plan: $0) }
        }
        if !planned.isEmpty {
            // Runs end on their own; that must not stop the server.
            services.append(.init(service: PipelineScheduler(pipelines: planned, runner: runner, board: board, retry: retry),
                                  successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore))
        }
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            for publisher in publishers { await publisher.close() }
            throw error
        }
        for publisher in publishers { await publisher.close() }
    }
}
