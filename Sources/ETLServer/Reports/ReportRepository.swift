import ETLCore
import Synchronization

/// The reports of one pipeline, cached per completed load, and what the server last learned about
/// the pipeline's loaded data. `LoadPoller` writes it; request handlers read it, holding the lock
/// only to copy a few references, so the hot path never waits on ClickHouse or SQLite.
final class ReportRepository: Sendable {
    let pipeline: Pipeline
    let sink: any QueryableSink

    /// A completed load with its reports' rows.
    struct Loaded: Sendable {
        let load: CompletedLoad
        /// In the order of `pipeline.reports`.
        let reports: [LoadedReport]
    }

    struct State: Sendable {
        /// False until the first poll has finished.
        var polled = false
        /// The newest completed load whose reports are cached.
        var loaded: Loaded?
        /// Why the last poll failed (redacted); nil when it succeeded.
        var error: String?
        /// The pipeline's run state as the last poll found it in the checkpoint store.
        var runState = PipelineStatus.neverRun
    }

    /// The answer to a report request.
    enum Answer {
        case loaded(LoadedReport)
        case unavailable(reason: String, runState: String)
    }

    private let state = Mutex(State())

    init(pipeline: Pipeline, sink: any QueryableSink) {
        self.pipeline = pipeline
        self.sink = sink
    }

    var snapshot: State { state.withLock { $0 } }

    func update(_ body: (inout State) -> Void) {
        state.withLock { body(&$0) }
    }

    /// The report at `index` of `pipeline.reports`: its rows or answers for the last completed
    /// load, or why there are none to serve.
    func answer(report index: Int) -> Answer {
        let current = snapshot
        let name = pipeline.name
        if let error = current.error {
            return .unavailable(reason: "the loaded data of pipeline \(name) cannot be read: \(error)", runState: current.runState)
        }
        guard current.polled else {
            return .unavailable(reason: "the server is starting and has not yet checked for a completed load of pipeline \(name)", runState: current.runState)
        }
        guard let loaded = current.loaded else {
            return .unavailable(reason: "no completed load of pipeline \(name) yet", runState: current.runState)
        }
        return .loaded(loaded.reports[index])
    }
}

/// One report for one completed load: a ranked list's rows, or a parameterised report's answers
/// as requests ask for them.
enum LoadedReport: Sendable {
    case ranked(CachedReport)
    case parameterised(AnswerCache)

    /// A ranked list's rows.
    var rankedRows: CachedReport? {
        if case .ranked(let report) = self { report } else { nil }
    }
}
