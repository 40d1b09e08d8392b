@testable import ClickHouseConnector
import ETLCore
import Foundation
import Testing

/// Versioned ClickHouse migrations on the real binary against a real server: applied in order
/// before the first batch and recorded with checksums; applied once; an applied migration that
/// was edited or removed is refused before anything else is applied.
@Suite(.serialized, .enabled(if: ClickHouseHarness.isAvailable, ClickHouseHarness.unavailableComment), SharedClickHouse())
struct ClickHouseMigrationTests {
    /// A folder with `pipelines/p.json` (pipeline `mig`, a jsonl source into table `events`, its
    /// migrations in `../migrations/mig`, relative to the pipeline file) and three input rows.
    struct Project {
        let directory: TemporaryDirectory
        let environment: [String: String]
        var client: ClickHouseClient { clickHouseClient(for: environment) }

        init() async throws {
            directory = try TemporaryDirectory()
            environment = try await SharedClickHouse.freshDatabase()
            for folder in ["pipelines", "migrations/mig"] {
                try FileManager.default.createDirectory(atPath: directory.path(folder), withIntermediateDirectories: true)
            }
            try directory.write("in.jsonl", "{\"n\": 1}\n{\"n\": 2}\n{\"n\": 3}\n")
            try directory.write("pipelines/p.json", """
                {"version": 1, "name": "mig",
                 "extract": {"type": "jsonl", "path": "in.jsonl"},
                 "load": {"type": "clickhouse", "url": "${CLICKHOUSE_URL}", "user": "${CLICKHOUSE_USER:-default}", "password": "${CLICKHOUSE_PASSWORD:-}",
                          "database": "${CLICKHOUSE_DATABASE:-default}", "table": "events", "columns": {"n": "UInt64"},
                          "migrations": "../migrations/mig"}}
                """)
        }

        func writeMigration(_ name: String, _ text: String) throws {
            try directory.write("migrations/mig/\(name)", text)
        }

        func checksum(_ name: String) throws -> String {
            SHA256.hex(Array(try directory.read("migrations/mig/\(name)")))
        }

        func etl(_ arguments: [String]) async throws -> Subprocess.Result {
            try await Subprocess.run(arguments + ["pipelines/p.json", "--state", "s.sqlite"], in: directory.url, environment: environment)
        }

        /// `version name checksum` of each record, in order.
        func records() async throws -> [[String]] {
            try await client.rows("SELECT version, name, checksum FROM etl_migrations WHERE pipeline = 'mig' ORDER BY version")
        }

        func tables() async throws -> [String] {
            try await client.rows("SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name").map { $0[0] }
        }
    }

    /// The first migration: a table, with `;` inside a string and in comments to split around.
    static let notes = """
        -- Notes; with a semicolon in a comment.
        CREATE TABLE IF NOT EXISTS {database}.notes (n UInt64, t String DEFAULT 'a;b') ENGINE = MergeTree ORDER BY n;
        /* a block comment; also */
        ;
        """
    /// Needs `notes` and the live table: applied after both exist.
    static let notesView = "CREATE VIEW IF NOT EXISTS {database}.notes_view AS SELECT n, t FROM {database}.notes WHERE n IN (SELECT n FROM {database}.{table})"

    @Test func migrationsApplyInOrderBeforeTheFirstBatchAndAreRecordedWithChecksums() async throws {
        let project = try await Project()
        try project.writeMigration("0002_notes_view.sql", Self.notesView)
        try project.writeMigration("0001_notes.sql", Self.notes)
        let run = try await project.etl(["run"])
        #expect(run.status == 0, "\(run.output)")
        #expect(try await project.records() == [
            ["1", "0001_notes.sql", try project.checksum("0001_notes.sql")],
            ["2", "0002_notes_view.sql", try project.checksum("0002_notes_view.sql")],
        ])
        #expect(try await project.tables() == ["_etl_loads", "etl_migrations", "events", "notes", "notes_view"])
        try await project.client.execute("INSERT INTO notes (n) VALUES (2), (7)")
        #expect(try await project.client.rows("SELECT n, t FROM notes_view") == [["2", "a;b"]])
        let order = ["applied migration 0001_notes.sql (1 statement)", "applied migration 0002_notes_view.sql (1 statement)"].map { run.stderr.range(of: $0)?.lowerBound }
        #expect(order.allSatisfy { $0 != nil } && order[0]! < order[1]!, "\(run.stderr)")
    }

    @Test func aSecondRunAppliesNothing() async throws {
        let project = try await Project()
        try project.writeMigration("0001_notes.sql", Self.notes)
        #expect(try await project.etl(["run"]).status == 0)
        let second = try await project.etl(["run"])
        #expect(second.status == 0, "\(second.output)")
        #expect(!second.stderr.contains("applied migration"), "\(second.stderr)")
        #expect(try await project.records().count == 1)
    }

    @Test func aNewMigrationIsAppliedAfterTheApplied() async throws {
        let project = try await Project()
        try project.writeMigration("0001_notes.sql", Self.notes)
        #expect(try await project.etl(["run"]).status == 0)
        try project.writeMigration("0002_notes_view.sql", Self.notesView)
        let second = try await project.etl(["run"])
        #expect(second.status == 0, "\(second.output)")
        #expect(!second.stderr.contains("applied migration 0001") && second.stderr.contains("applied migration 0002_notes_view.sql"), "\(second.stderr)")
        #expect(try await project.records().map { $0[1] } == ["0001_notes.sql", "0002_notes_view.sql"])
    }

    @Test func anEditedAppliedMigrationIsRefusedAndNothingLaterIsApplied() async throws {
        let project = try await Project()
        try project.writeMigration("0001_notes.sql", Self.notes)
        #expect(try await project.etl(["migrate"]).status == 0)
        let applied = try project.checksum("0001_notes.sql")
        try project.writeMigration("0001_notes.sql", Self.notes + "\n-- edited\n")
        try project.writeMigration("0002_notes_view.sql", Self.notesView)
        let edited = try project.checksum("0001_notes.sql")
        for command in ["migrate", "run"] {
            let refused = try await project.etl([command])
            #expect(refused.status == 1, "\(command): \(refused.output)")
            #expect(refused.stderr.contains("migration 0001_notes.sql of pipeline mig was applied with checksum \(applied.prefix(12))… but the file now has \(edited.prefix(12))…: an applied migration must not change; restore it and add a new migration (0003_…) instead"),
                    "\(command): \(refused.stderr)")
        }
        #expect(try await project.records().map { $0[1] } == ["0001_notes.sql"])
        #expect(!(try await project.tables().contains("notes_view")))
        #expect(try await project.client.rows("SELECT count() FROM events") == [["0"]], "the run loaded batches after the refusal")
    }

    @Test func aRemovedAppliedMigrationIsRefused() async throws {
        let project = try await Project()
        try project.writeMigration("0001_notes.sql", Self.notes)
        #expect(try await project.etl(["run"]).status == 0)
        try FileManager.default.removeItem(atPath: project.directory.path("migrations/mig/0001_notes.sql"))
        try project.writeMigration("0002_notes_view.sql", "CREATE VIEW IF NOT EXISTS {database}.other AS SELECT 1 AS one")
        let refused = try await project.etl(["migrate"])
        #expect(refused.status == 1, "\(refused.output)")
        #expect(refused.stderr.contains("migration 0001_notes.sql of pipeline mig was applied (checksum \(try await project.records()[0][2].prefix(12))…) but is no longer in "), "\(refused.stderr)")
        #expect(refused.stderr.contains("an applied migration must not be removed"), "\(refused.stderr)")
        #expect(!(try await project.tables().contains("other")))
    }

    @Test func aNewMigrationNumberedBelowAnAppliedOneIsRefused() async throws {
        let project = try await Project()
        try project.writeMigration("0002_notes.sql", Self.notes)
        #expect(try await project.etl(["migrate"]).status == 0)
        try project.writeMigration("0001_view.sql", "CREATE VIEW IF NOT EXISTS {database}.other AS SELECT 1 AS one")
        let refused = try await project.etl(["migrate"])
        #expect(refused.status == 1, "\(refused.output)")
        #expect(refused.stderr.contains("migration 0001_view.sql of pipeline mig is numbered below 0002_notes.sql, which is already applied"), "\(refused.stderr)")
        #expect(!(try await project.tables().contains("other")))
    }

    /// The statements before the failed one stay applied (no transactional DDL); the migration is
    /// not recorded, so once fixed it runs again whole, and `etl resume` continues the run.
    @Test func aFailedStatementIsNamedByFileAndNumberAndTheFixedMigrationResumes() async throws {
        let project = try await Project()
        try project.writeMigration("0001_notes.sql", Self.notes)
        try project.writeMigration("0002_two.sql", "\(Self.notesView);\nCREATE VIEW IF NOT EXISTS {database}.broken AS SELEC 1")
        let failed = try await project.etl(["run"])
        #expect(failed.status == 1, "\(failed.output)")
        #expect(failed.stderr.contains("migration 0002_two.sql of pipeline mig: statement 2 of 2 failed: ClickHouse at"), "\(failed.stderr)")
        #expect(failed.stderr.contains("etl resume"), "\(failed.stderr)")
        #expect(try await project.records().map { $0[1] } == ["0001_notes.sql"])
        #expect(try await project.tables().contains("notes_view"))
        try project.writeMigration("0002_two.sql", "\(Self.notesView);\nCREATE VIEW IF NOT EXISTS {database}.fixed AS SELECT 1 AS one")
        let resumed = try await project.etl(["resume"])
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(try await project.records().map { $0[1] } == ["0001_notes.sql", "0002_two.sql"])
        #expect(try await project.client.rows("SELECT count() FROM events") == [["3"]])
    }

    /// Two processes that migrated at once may both have recorded a version: the same checksum
    /// twice is one applied migration.
    @Test func aMigrationRecordedTwiceWithOneChecksumIsApplied() async throws {
        let project = try await Project()
        try project.writeMigration("0001_notes.sql", Self.notes)
        #expect(try await project.etl(["migrate"]).status == 0)
        try await project.client.execute("INSERT INTO etl_migrations SELECT * FROM etl_migrations")
        let again = try await project.etl(["migrate"])
        #expect(again.status == 0, "\(again.output)")
        #expect(again.stdout.contains("already applied 0001_notes.sql"), "\(again.output)")
    }

    @Test func badFileNamesAndNumbersInTheFolderArePipelineFileErrors() async throws {
        let project = try await Project()
        try project.writeMigration("0001_notes.sql", Self.notes)
        try project.writeMigration("01_short.sql", "SELECT 1")
        try project.writeMigration("README.md", "notes")
        try project.writeMigration("00001_again.sql", "SELECT 1")
        try project.writeMigration("0003_unknown.sql", "SELECT * FROM {tabel}")
        let result = try await project.etl(["run"])
        #expect(result.status == 2, "\(result.output)")
        for expected in [
            "$.load.migrations: 01_short.sql in ",
            "$.load.migrations: README.md in ",
            "$.load.migrations: 00001_again.sql and 0001_notes.sql in ",
            "$.load.migrations: the migration \(project.directory.url.standardizedFileURL.path)/migrations/mig/0003_unknown.sql: {tabel} is not a placeholder (known: {database}, {table})",
        ] {
            #expect(result.stderr.contains(expected), "missing \(expected): \(result.stderr)")
        }
        #expect(result.stderr.contains("is not a migration: name each file NNNN_description.sql"))
        #expect(!(try await project.tables().contains("etl_migrations")))
    }

    /// `etl migrate` on the captcha events pipeline: its migration makes the view of first
    /// received copies, which the server version at hand must run.
    @Test func etlMigrateAppliesTheCaptchaEventsMigrationOnce() async throws {
        let directory = try TemporaryDirectory()
        let environment = try await SharedClickHouse.freshDatabase().merging(["ETL_QUEUE_PATH": directory.path("queue")]) { $1 }
        let pipeline = Subprocess.packageRoot.appendingPathComponent("pipelines/captcha-events.json").path
        let first = try await Subprocess.run(["migrate", pipeline, "--state", "s.sqlite"], in: directory.url, environment: environment)
        #expect(first.status == 0, "\(first.output)")
        #expect(first.stdout.contains("applied 0001_first_received.sql\n") && !first.stdout.contains("already"), "\(first.stdout)")
        let second = try await Subprocess.run(["migrate", pipeline, "--state", "s.sqlite"], in: directory.url, environment: environment)
        #expect(second.status == 0, "\(second.output)")
        #expect(second.stdout.contains("already applied 0001_first_received.sql"), "\(second.stdout)")

        let client = clickHouseClient(for: environment)
        try await client.execute("""
            INSERT INTO captcha_events (time, type, correlation_id, site_id, partition, offset, _etl_run, _etl_batch, _etl_batch_hash) VALUES \
            ('2021-01-22T18:20:43', 'serve', 'c1', 's2', 0, 9, 'r', 1, ''), ('2021-01-22T18:20:42', 'serve', 'c1', 's1', 0, 4, 'r', 1, ''), \
            ('2021-01-23T00:00:00', 'solve', 'c1', 's3', 0, 5, 'r', 1, '')
            """)
        #expect(try await client.rows("SELECT type, correlation_id, site_id, time FROM captcha_first_received ORDER BY type") == [
            ["serve", "c1", "s1", "2021-01-22T18:20:42"], ["solve", "c1", "s3", "2021-01-23T00:00:00"],
        ])
    }
}

/// How a migration file is split into statements.
struct MigrationScriptTests {
    @Test func statementsSplitAtSemicolonsOutsideQuotesAndComments() throws {
        let text = """
            -- a comment; not a statement
            CREATE TABLE t (s String DEFAULT 'it''s; \\'quoted\\'', `odd;name` UInt8) ENGINE = Log;
            /* block; comment */ SELECT "a;b", `c``;` FROM t -- trailing; comment
            ;;
            SELECT 1 /* ; */
            """
        #expect(try MigrationScript.statements(in: text) == [
            "-- a comment; not a statement\nCREATE TABLE t (s String DEFAULT 'it''s; \\'quoted\\'', `odd;name` UInt8) ENGINE = Log",
            "/* block; comment */ SELECT \"a;b\", `c``;` FROM t -- trailing; comment",
            "SELECT 1 /* ; */",
        ])
    }

    @Test func emptyAndCommentOnlyStatementsAreDropped() throws {
        #expect(try MigrationScript.statements(in: "") == [])
        #expect(try MigrationScript.statements(in: " ;\n; -- only a comment;\n/* and; this */ ;\t\n") == [])
        #expect(try MigrationScript.statements(in: "SELECT 1") == ["SELECT 1"])
        #expect(try MigrationScript.statements(in: "SELECT '--not a comment'; SELECT '/*'") == ["SELECT '--not a comment'", "SELECT '/*'"])
    }

    @Test func unclosedQuotesAndCommentsAreErrorsWithTheirLine() {
        #expect(throws: MigrationScript.Problem.self) { try MigrationScript.statements(in: "SELECT 1;\nSELECT 'open") }
        do {
            _ = try MigrationScript.statements(in: "SELECT 1;\n\nSELECT 2 /* open")
            Issue.record("an unclosed comment was accepted")
        } catch {
            #expect("\(error)" == "the comment /* at line 3 is not closed with */")
        }
        do {
            _ = try MigrationScript.statements(in: "SELECT `a\\`")
            Issue.record("an unclosed backtick was accepted")
        } catch {
            #expect("\(error)" == "the quote ` at line 1 is not closed")
        }
    }

    @Test func fileNamesGiveVersions() {
        #expect(ClickHouseMigrations.version(ofFileName: "0001_first_received.sql") == 1)
        #expect(ClickHouseMigrations.version(ofFileName: "12345_a-b.sql") == 12345)
        for name in ["001_short.sql", "0001.sql", "0001_.sql", "0001-x.sql", "0001_x.SQL", "0001_x y.sql", "x0001_a.sql", ".0001_a.sql.swp", "99999999999_big.sql"] {
            #expect(ClickHouseMigrations.version(ofFileName: name) == nil, "\(name)")
        }
    }
}
