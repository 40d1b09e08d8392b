import ArgumentParser
import ClickHouseConnector
import ETLCore

/// `etl migrate FILE`: applies the pipeline's ClickHouse migrations now, as every run does before
/// its first batch.
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply a pipeline's ClickHouse migrations (the load's \"migrations\" folder), as every run does first.",
        discussion: """
            Creates the pipeline's tables if they are missing, checks that no applied migration was edited, renamed \
            or removed, then applies the new ones in order and records them in etl_migrations. Prints each migration, \
            applied now or already.
            """)

    @Argument(help: "The pipeline file.")
    var file: String

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let session = RunSession(options: options)
        let pipeline = try session.loadPipeline(file)
        guard let sink = pipeline.sink as? ClickHouseSink, sink.hasMigrations else {
            print("pipeline \(pipeline.name) declares no migrations (a clickhouse load's \"migrations\" folder)")
            return
        }
        let context = StageContext(runID: 0, runKey: "migrate", pipeline: pipeline.name, logger: session.makeLogger(), mode: pipeline.mode, replacesLive: false)
        let migrations: [(name: String, isNew: Bool)]
        do {
            migrations = try await sink.migrate(context: context)
        } catch {
            throw session.report(error)
        }
        for migration in migrations {
            print("\(migration.isNew ? "applied" : "already applied") \(migration.name)")
        }
        print("pipeline \(pipeline.name): \(migrations.filter(\.isNew).count) of \(migrations.count) migrations applied now")
    }
}
