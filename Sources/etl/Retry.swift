import ArgumentParser
import ETLCore
import Foundation

/// `etl retry FILE ITEM`: handle a failed file again although it has not changed.
struct Retry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Handle a failed file again: forget its failure, so that the next run reads it.",
        discussion: """
            A pipeline whose source handles each file once (s3, files) records every file's outcome in its \\
            ledger; a failed file is read again only when it changes, or after `etl retry`. ITEM is the file as \\
            `etl status` lists it (s3://bucket/key, or a path), or its end (`key`, `a/b.xml`): every failed file \\
            it names is retried. The next run, or the following run under etl serve, handles them.
            """)

    @Argument(help: "The pipeline file.")
    var file: String

    @Argument(help: "The failed file, as etl status lists it, or the end of its name.")
    var item: String

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let session = RunSession(options: options)
        let pipeline = try session.loadPipeline(file)
        guard pipeline.ledger != nil else {
            Console.shared.line("error: pipeline \(pipeline.name) keeps no ledger of files (its source is not s3 or files), so there is nothing to retry")
            throw ExitCode(ExitStatus.invalidInput)
        }
        let store = try session.openStore()
        let retried = try store.retryFailed(pipeline: pipeline.name, file: item)
        guard !retried.isEmpty else {
            let entry = try store.ledgerEntry(pipeline: pipeline.name, item: item)
            let why = entry?.outcome == .done ? "it was handled successfully (it is handled again when it changes)" : "`etl status` lists the failed files"
            Console.shared.line("error: pipeline \(pipeline.name) has no failed file \(item): \(why)")
            throw ExitCode(ExitStatus.needsDecision)
        }
        for item in retried { print("will retry \(item)") }
        print("the next run of \(pipeline.name) handles \(retried.count == 1 ? "it" : "them") (`etl run \(pipeline.file.path)`, or etl serve when it follows the pipeline)")
    }
}
