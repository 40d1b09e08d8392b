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
            print(StatusRow.table(rows))
        }
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
        return "\(Int(rate.rounded()))/s\(eta)"
    }

    var json: JSONValue { .object(run.statusJSON(state: state)) }

    static func table(_ rows: [StatusRow]) -> String {
        let header = ["RUN", "PIPELINE", "STATE", "BATCHES", "RECORDS", "RATE", "ROWS", "CURSOR", "STARTED", "ERROR"]
        let body = rows.map { row in
            [String(row.run.id), row.run.pipeline, row.state, String(row.run.batches), row.progress, row.pace, String(row.run.rows),
             String((row.run.cursor ?? "-").prefix(40)), row.run.startedAt.formatted(.iso8601), String((row.run.error ?? "").prefix(100))]
        }
        let widths = header.indices.map { column in ([header] + body).map { $0[column].count }.max()! }
        return ([header] + body).map { cells in
            cells.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n")
    }
}
