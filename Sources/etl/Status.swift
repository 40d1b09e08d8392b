import ArgumentParser
import ETLCore
import Foundation

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show runs: state, batches, rows, cursor and last error.")

    @Argument(help: "Only this pipeline (its name).")
    var pipeline: String?

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @Option(help: "How many runs to show, newest first.")
    var limit = 20

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let session = RunSession(options: options)
        // Looking must not create a state file (and race a run that is creating it).
        guard FileManager.default.fileExists(atPath: session.statePath) else {
            print(json ? "[]" : "no runs recorded in \(session.statePath)")
            return
        }
        let store = try session.openStore()
        let runs = try store.runs(pipeline: pipeline, limit: limit)
        let statePath = store.path
        let rows = runs.map { StatusRow(run: $0, live: PipelineLock.isHeld(statePath: statePath, pipeline: $0.pipeline)) }
        if json {
            print(JSONWriter.string(.array(rows.map(\.json))))
        } else if rows.isEmpty {
            print("no runs recorded in \(statePath)")
        } else {
            var seen = Set<String>()
            for run in runs where seen.insert(run.pipeline).inserted {
                print(try Self.summary(of: run, store: store))
            }
            print("")
            print(StatusRow.table(rows))
        }
    }
}

extension Status {
    /// `pipeline P: mode append · state {…} · every 15m, next run about T`, from the pipeline's
    /// latest run (its file as the run read it) and its state.
    static func summary(of latest: RunRecord, store: CheckpointStore) throws -> String {
        var parts = ["pipeline \(latest.pipeline): mode \(PipelineFile.declaredMode(in: latest.pipelineText) ?? latest.mode)"]
        if let state = try store.state(pipeline: latest.pipeline) {
            parts.append("state \(state.cursor.prefix(60)) (run \(state.runID), batch \(state.batch))")
        }
        if let schedule = PipelineFile.declaredSchedule(in: latest.pipelineText) {
            let finished = try store.runs(pipeline: latest.pipeline, limit: 50).first { $0.state == .completed }?.finishedAt
            let next = latest.state.isResumable ? "next run at once (run \(latest.id) is unfinished)"
                : finished.map { "next run about \(max(Date(), schedule.nextRun(after: $0)).formatted(.iso8601)) under etl serve" } ?? "next run at once"
            parts.append("\(schedule), \(next)")
        }
        let files = try store.ledgerSummary(pipeline: latest.pipeline)
        guard files.done + files.failed + files.pending > 0 else { return parts.joined(separator: " · ") }
        parts.append("files \(files.counts)")
        return ([parts.joined(separator: " · ")] + files.failures.map { "  failed \($0.item): \($0.reason ?? "")" }).joined(separator: "\n")
    }
}

/// One run as `etl status` shows it. Errors were redacted when they were recorded.
struct StatusRow {
    let run: RunRecord
    /// The state to show: a `running` run whose lock nobody holds crashed.
    let state: String

    init(run: RunRecord, live: Bool) {
        self.run = run
        state = run.displayedState(lockHeld: live)
    }

    var progress: String {
        run.expectedTotal.map { "\(run.records)/\($0)" } ?? "\(run.records)"
    }

    /// Rate and ETA while the run is live.
    var pace: String {
        guard state == "running", let rate = run.recordsPerSecond else { return "-" }
        let eta = run.estimatedSecondsLeft.map { ", ETA \(Int($0.rounded()))s" } ?? ""
        let rows = run.rowsPerSecond.map { ", \(Int($0.rounded())) rows/s" } ?? ""
        return "\(Int(rate.rounded()))/s\(rows)\(eta)"
    }

    /// How far the loaded data trails the input, while the run is live.
    var lag: String {
        guard state == "running", let lag = run.lagSeconds else { return "-" }
        return String(format: "%.1fs", lag)
    }

    var json: JSONValue { .object(run.statusJSON(state: state)) }

    static func table(_ rows: [StatusRow]) -> String {
        let header = ["RUN", "PIPELINE", "STATE", "MODE", "BATCHES", "RECORDS", "RATE", "LAG", "ROWS", "CURSOR", "STARTED", "ERROR"]
        let body = rows.map { row in
            [String(row.run.id), row.run.pipeline, row.state, row.run.fullRefresh ? "full-refresh" : row.run.mode, String(row.run.batches),
             row.progress, row.pace, row.lag, String(row.run.rows),
             String((row.run.cursor ?? "-").prefix(40)), row.run.startedAt.formatted(.iso8601), String((row.run.error ?? "").prefix(100))]
        }
        let widths = header.indices.map { column in ([header] + body).map { $0[column].count }.max()! }
        return ([header] + body).map { cells in
            cells.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n")
    }
}
