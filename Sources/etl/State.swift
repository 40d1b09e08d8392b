import ArgumentParser
import ETLCore
import Foundation

/// `etl state FILE`: what the pipeline carries from run to run, and `--reset` to forget it.
struct State: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a pipeline's state across runs (where its next incremental run starts); --reset --yes clears it.",
        discussion: """
            An incremental source (jsonl) in mode append or merge starts each run where the last one stopped: \\
            that cursor is the pipeline's state. It moves with every checkpoint of such a run, and when a \\
            replacing run (mode replace, or --full-refresh) completes. After --reset the next run reads the \\
            source from the start (in append mode its rows are then appended again).
            """)

    @Argument(help: "The pipeline file.")
    var file: String

    @Flag(help: "Clear the state; needs --yes.")
    var reset = false

    @Flag(help: "Confirm --reset.")
    var yes = false

    @Flag(help: "Print JSON.")
    var json = false

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let session = RunSession(options: options)
        let pipeline = try session.loadPipeline(file)
        guard FileManager.default.fileExists(atPath: session.statePath) else {
            print(json ? JSONWriter.string(Self.json(pipeline, state: nil)) : "pipeline \(pipeline.name) has no state (nothing recorded in \(session.statePath))")
            return
        }
        let store = try session.openStore()
        let state = try store.state(pipeline: pipeline.name)
        guard reset else {
            print(json ? JSONWriter.string(Self.json(pipeline, state: state)) : Self.text(pipeline, state: state))
            return
        }
        guard let state else {
            print("pipeline \(pipeline.name) has no state to reset")
            return
        }
        guard yes else {
            Console.shared.line("error: this would clear the state of pipeline \(pipeline.name) (cursor \(state.cursor.prefix(80))), so that its next run reads the source from the start; run it again with --yes to do so")
            throw ExitCode(ExitStatus.needsDecision)
        }
        if let latest = try store.latestRun(pipeline: pipeline.name), latest.state.isResumable {
            Console.shared.line("error: run \(latest.id) of pipeline \(pipeline.name) did not finish (\(latest.state.rawValue)) and would move the state again; finish it with `etl resume \(pipeline.file.path)` or discard it with `etl run \(pipeline.file.path) --restart`, then reset")
            throw ExitCode(ExitStatus.needsDecision)
        }
        _ = try store.resetState(pipeline: pipeline.name)
        print("cleared the state of pipeline \(pipeline.name); its next run reads the source from the start")
    }

    static func json(_ pipeline: Pipeline, state: PipelineState?) -> JSONValue {
        var object = JSONObject()
        object["pipeline"] = .string(pipeline.name)
        object["mode"] = .string(pipeline.mode.name)
        object["incremental"] = .bool(pipeline.source.isIncremental)
        object["state"] = state.map { .object($0.json) } ?? .null
        return .object(object)
    }

    static func text(_ pipeline: Pipeline, state: PipelineState?) -> String {
        var lines = ["pipeline \(pipeline.name), mode \(pipeline.mode)"]
        if !pipeline.source.isIncremental {
            lines.append("its source reads everything on each run, so it keeps no state")
        } else if let state {
            lines.append("cursor: \(state.cursor)")
            lines.append("left by run \(state.runID), batch \(state.batch), at \(state.updatedAt.formatted(.iso8601))")
            lines.append(pipeline.mode == .replace ? "mode replace reads the whole source on each run; append or merge would start from this cursor"
                                                   : "the next run reads from this cursor on (`etl run FILE --full-refresh` reads everything)")
        } else {
            lines.append("no state yet: the next run reads the source from the start")
        }
        return lines.joined(separator: "\n")
    }
}
