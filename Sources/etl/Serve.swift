import ArgumentParser
import ETLCore
import ETLServer
import Foundation
import Synchronization
import UnixSignals

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve status and the pipelines' reports over HTTP.",
        discussion: """
            Serves the reports declared in the named pipeline files (default: every pipelines/*.json) at their \
            paths, plus / (an HTML status page), /status (JSON), /healthz and /metrics (Prometheus). Reports \
            answer 503 until the pipeline has a completed load, then 200. An invalid pipeline file is logged and \
            shown on /status while the others are served; named on the command line, it stops the server from \
            starting (exit 2). Prints "etl serve listening on http://HOST:PORT" once it accepts connections. \
            The server runs pipelines itself: one whose source never ends is followed, one with a "schedule" runs \
            on it, and with --run every other one runs once; a failed run is retried with backoff. \
            SIGTERM or SIGINT shuts down gracefully: a run stops at its next batch boundary \
            with its checkpoint written, while the server keeps answering; a second signal exits at once.
            """)

    @Argument(help: "Pipeline files to serve (default: every pipelines/*.json).")
    var files: [String] = []

    @Option(help: "Address to listen on (default: $ETL_HTTP_HOST, else 127.0.0.1).")
    var host: String?

    @Option(help: "Port to listen on; 0 picks a free one (default: $ETL_HTTP_PORT, else 8080).")
    var port: Int?

    @Flag(name: .customLong("run"), help: "Also run each served pipeline once at start-up (a scheduled one too, then on its schedule): resume its interrupted run if it has one, else start a new run; a failed run is retried with backoff.")
    var runPipelines = false

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let session = RunSession(options: options)
        let environment = session.environment
        let host = host ?? environment.setting("ETL_HTTP_HOST") ?? "127.0.0.1"
        let port = try port ?? Self.port(from: environment.setting("ETL_HTTP_PORT"))
        guard (0...65535).contains(port) else { throw Self.invalid("port \(port) is not between 0 and 65535") }

        let logger = session.makeLogger()
        let named = !files.isEmpty
        let paths = named ? files : Self.discoverPipelineFiles()
        if paths.isEmpty { logger.warning("no pipeline files to serve: none named and none in pipelines/") }
        var loaded: [Pipeline] = []
        var invalid: [PipelineInvalid] = []
        for path in paths {
            do {
                loaded.append(try Pipeline.load(path: path, registry: StandardComponents.registry, environment: environment, redactor: session.redactor))
            } catch {
                invalid.append(error)
            }
        }
        let served = ServedPipelines(loaded: loaded, invalid: invalid)
        for file in served.invalid {
            let text = session.redactor.redact(file.description)
            if named {
                Console.shared.line(text)
            } else {
                logger.error("not serving \(text)")
            }
        }
        if named, !served.invalid.isEmpty {
            Console.shared.line("error: not starting: fix the pipeline files above (`etl validate FILE` lists the problems), or leave them out")
            throw ExitCode(ExitStatus.invalidInput)
        }

        let store = try session.openStore()
        let runner = Runner(store: store, logger: logger, redactor: session.redactor, stop: StopSignal()) { progress in
            Console.shared.progress(ProgressLine.render(progress))
        }
        let server = ReportServer(pipelines: served, store: store, redactor: session.redactor, logger: logger,
                                  ingestToken: environment.setting("ETL_INGEST_TOKEN"))
        let listening = Atomic(false)
        // The server group shuts down gracefully on the first SIGTERM/SIGINT; as with `etl run`, a
        // second one exits at once (the last checkpoint is durable either way).
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let secondSignal = Task {
            var seen = 0
            for await signal in signals {
                seen += 1
                if seen > 1 {
                    logger.notice("received \(signal) again; exiting at once")
                    Foundation.exit(ExitStatus.stopped)
                }
            }
        }
        defer { secondSignal.cancel() }
        do {
            try await server.run(host: host, port: port, runner: runner, runAtStartup: runPipelines) { boundPort in
                listening.store(true, ordering: .relaxed)
                // Unbuffered, so that a script waiting for this line sees it at once.
                FileHandle.standardOutput.write(Data("etl serve listening on http://\(host):\(boundPort)\n".utf8))
            }
        } catch {
            Console.shared.endProgress()
            let what = listening.load(ordering: .relaxed) ? "the server stopped" : "cannot listen on \(host):\(port) (set --port or ETL_HTTP_PORT)"
            Console.shared.line("error: \(what): \(session.redactor.redact(String(describing: error)))")
            throw ExitCode(ExitStatus.runFailed)
        }
        Console.shared.endProgress()
    }

    /// `pipelines/*.json` in the current directory, in name order.
    static func discoverPipelineFiles() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "pipelines")) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted().map { "pipelines/\($0)" }
    }

    static func port(from text: String?) throws -> Int {
        guard let text else { return 8080 }
        guard let port = Int(text) else { throw invalid("ETL_HTTP_PORT=\(text) is not a port number") }
        return port
    }

    static func invalid(_ message: String) -> ExitCode {
        Console.shared.line("error: \(message)")
        return ExitCode(ExitStatus.invalidInput)
    }
}
