import ArgumentParser
import CMalloc
import ClickHouseConnector
import ETLComponents
import ETLCore
import Foundation
import KafkaConnector
import Logging
import PartnerFilesConnector
import SQLConnector
import ShopifyConnector
import UnixSignals

/// Exit codes, documented in the README.
enum ExitStatus {
    static let runFailed: Int32 = 1        // a stage failed; `etl resume` continues the run
    static let invalidInput: Int32 = 2     // bad pipeline file or command line
    static let busy: Int32 = 3             // another run of the pipeline is live
    static let needsDecision: Int32 = 4    // nothing to resume, file changed, unfinished run exists, staging lost
    static let stopped: Int32 = 130        // stopped by SIGTERM/SIGINT at a batch boundary, checkpoint written
}

@main
struct ETLCommand: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "etl",
        abstract: "A resumable ETL job runner: declarative pipelines, SQLite checkpoints, atomic loads.",
        version: version,
        subcommands: [Run.self, Resume.self, Status.self, State.self, Retry.self, Validate.self, Migrate.self, Serve.self]
    )

    /// At most two malloc arenas, set before the work starts. glibc otherwise gives each thread
    /// that contends for the heap an arena of its own (up to eight per core) and keeps what is
    /// freed in it: page bodies filled on transfer threads and freed on others then raise the
    /// peak by 5–10 MiB, more the longer the run (BENCHMARKS.md).
    static func main() async {
        etl_limit_malloc_arenas(2)
        await main(nil)
    }
}

/// Every component a pipeline file can name. The one place connectors are wired in.
enum StandardComponents {
    static var registry: ComponentRegistry {
        var registry = ComponentRegistry()
        JSONLinesSource.register(into: &registry)
        JSONLinesSink.register(into: &registry)
        Transforms.register(into: &registry)
        ShopifyOrdersSource.register(into: &registry)
        ClickHouseSink.register(into: &registry)
        SQLSource.register(into: &registry)
        KafkaSource.register(into: &registry)
        PartnerFilesComponents.register(into: &registry)
        return registry
    }
}

struct CommonOptions: ParsableArguments {
    @Option(name: .customLong("state"), help: "The SQLite checkpoint file (default: $ETL_STATE_PATH, else .etl/state.sqlite).")
    var statePath: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical (default: $ETL_LOG_LEVEL, else info).")
    var logLevel: String?
}

/// What the commands share: the environment, loading the pipeline, the checkpoint store, the
/// runner, signals and error reporting.
struct RunSession {
    let options: CommonOptions
    let redactor = Redactor()
    /// The process environment, with `.env` from the current directory underneath it; read once.
    let environment: [String: String]

    init(options: CommonOptions) {
        self.options = options
        environment = DotEnv.merged(ProcessInfo.processInfo.environment, path: ".env")
    }

    var statePath: String {
        options.statePath ?? environment.setting("ETL_STATE_PATH") ?? ".etl/state.sqlite"
    }

    func makeLogger() -> Logger {
        let level = (options.logLevel ?? environment.setting("ETL_LOG_LEVEL")).flatMap(Logger.Level.init(rawValue:)) ?? .info
        return Logger(label: "etl") { [redactor] _ in
            ConsoleLogHandler(level: level, redactor: redactor) { Console.shared.line($0) }
        }
    }

    /// Loads and checks a pipeline file; on problems prints them all and exits with status 2.
    func loadPipeline(_ path: String, isValidating: Bool = false) throws -> Pipeline {
        do {
            return try Pipeline.load(path: path, registry: StandardComponents.registry, environment: environment, redactor: redactor)
        } catch {
            Console.shared.line(redactor.redact(error.description))
            if !isValidating { Console.shared.line("error: \(path) is not a valid pipeline file; fix the problems above and run it again") }
            throw ExitCode(ExitStatus.invalidInput)
        }
    }

    func openStore() throws -> CheckpointStore {
        do {
            return try CheckpointStore(path: statePath)
        } catch {
            Console.shared.line("error: \(redactor.redact(error.description))")
            throw ExitCode(ExitStatus.runFailed)
        }
    }

    /// Runs `body` with SIGTERM/SIGINT asking the runner to stop at the next batch boundary; a
    /// second signal exits at once (the last checkpoint is durable either way).
    func perform(_ body: @Sendable (Runner) async throws -> RunRecord) async throws {
        let store = try openStore()
        let stop = StopSignal()
        let logger = makeLogger()
        let runner = Runner(store: store, logger: logger, redactor: redactor, stop: stop) { progress in
            Console.shared.progress(ProgressLine.render(progress))
        }
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let signalWatcher = Task {
            for await signal in signals {
                if stop.isRequested { exit(ExitStatus.stopped) }
                stop.request()
                logger.notice("received \(signal); stopping after the current batch (send it again to exit at once)")
            }
        }
        defer { signalWatcher.cancel() }
        let started = ContinuousClock.now
        do {
            let run = try await body(runner)
            Console.shared.endProgress()
            let seconds = (ContinuousClock.now - started) / .seconds(1)
            let memory = PeakMemory.bytes.map { String(format: ", peak memory %.1f MiB", Double($0) / 1_048_576) } ?? ""
            print("run \(run.id) of \(run.pipeline) completed: \(run.batches) batches, \(run.records) records read, \(run.rows) rows loaded in \(String(format: "%.1f", seconds))s\(memory)")
        } catch {
            Console.shared.endProgress()
            throw report(error)
        }
    }

    /// One clear line on standard error, and the documented exit code.
    func report(_ error: any Error) -> ExitCode {
        Console.shared.line("error: \(redactor.redact(String(describing: error)))")
        switch error {
        case let error as ETLError:
            switch error.code {
            case .pipelineBusy: return ExitCode(ExitStatus.busy)
            case .interrupted: return ExitCode(ExitStatus.stopped)
            case .invalidPipeline: return ExitCode(ExitStatus.invalidInput)
            case .nothingToResume, .pipelineChanged, .interruptedRunExists, .stagingLost: return ExitCode(ExitStatus.needsDecision)
            case .checkpointStore, .stageFailed: return ExitCode(ExitStatus.runFailed)
            }
        default:
            return ExitCode(ExitStatus.runFailed)
        }
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a pipeline file to completion.",
        discussion: """
            In mode replace every run reads the source from the start. In append and merge an incremental source \
            (jsonl) reads what was added since the last run; --full-refresh reads everything and replaces the live data. \
            With --follow the run does not complete when the source has nothing more: it waits for more, checkpointing \
            each batch into the live data, until SIGTERM or SIGINT; it continues an unfinished run of the pipeline.
            """)

    @Argument(help: "The pipeline file, e.g. pipelines/shopify.json.")
    var file: String

    @Flag(help: "Discard an unfinished earlier run of this pipeline (and what it left unconfirmed) and start over.")
    var restart = false

    @Flag(help: "Ignore the pipeline's state: read the whole source and replace the live data when the run completes.")
    var fullRefresh = false

    @Flag(help: "Keep reading as the source grows (append and merge modes) until stopped by a signal.")
    var follow = false

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let session = RunSession(options: options)
        let pipeline = try session.loadPipeline(file)
        let runOptions = RunOptions(restart: restart, fullRefresh: fullRefresh, follow: follow)
        try await session.perform { runner in try await runner.start(pipeline, options: runOptions) }
    }
}

struct Resume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue an interrupted run from its last checkpoint.",
        discussion: "Without a file, resumes the most recent interrupted run of any pipeline.")

    @Argument(help: "The pipeline file; default: the one of the latest interrupted run.")
    var file: String?

    @Flag(help: "Once caught up, keep reading as the source grows (append and merge modes) until stopped by a signal.")
    var follow = false

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let session = RunSession(options: options)
        var runID: Int64?
        var path = file
        if path == nil {
            let store = try session.openStore()
            guard let latest = try store.latestRun(resumable: true) else {
                Console.shared.line("error: there is no interrupted run to resume; start one with `etl run FILE`")
                throw ExitCode(ExitStatus.needsDecision)
            }
            runID = latest.id
            path = latest.pipelinePath
        }
        let pipeline = try session.loadPipeline(path!)
        let chosenRun = runID, follow = follow
        try await session.perform { runner in try await runner.resume(pipeline, runID: chosenRun, follow: follow) }
    }
}

struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check a pipeline file and report every problem with its JSON path.")

    @Argument(help: "The pipeline file.")
    var file: String

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let pipeline = try RunSession(options: options).loadPipeline(file, isValidating: true)
        print("\(pipeline.file.path): valid pipeline \(pipeline.name) (1 source, \(pipeline.transforms.count) transforms, 1 sink)")
    }
}

enum ProgressLine {
    static func render(_ progress: RunProgress) -> String {
        var parts = ["run \(progress.runID)", "batches \(progress.batches)"]
        if let total = progress.expectedTotal {
            parts.append("records \(progress.records)/\(total)")
        } else {
            parts.append("records \(progress.records)")
        }
        parts.append("rows \(progress.rows)")
        parts.append("\(Int(progress.recordsPerSecond.rounded())) records/s")
        if let left = progress.estimatedSecondsLeft { parts.append("ETA \(Int(left.rounded()))s") }
        return parts.joined(separator: " · ")
    }
}
