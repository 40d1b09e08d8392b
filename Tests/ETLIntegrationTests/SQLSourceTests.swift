import ETLComponents
import ETLCore
import Foundation
import GRDB
import Logging
import PostgresNIO
import SQLConnector
import Testing

/// A database the `sql` source reads in a test: a SQLite file, or a fresh database on a private
/// PostgreSQL server (`scripts/postgres-local`).
enum Engine: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite, postgres
    var testDescription: String { rawValue }
}

/// One review row, as the tests write it and expect it back.
struct Review: Sendable {
    var id: Int64
    var rating: Double
    var name: String?
    var updated: Int64

    var json: JSONValue {
        .object(JSONObject([("id", .int(id)), ("rating", .double(rating)), ("name", name.map(JSONValue.string) ?? .null), ("updated", .int(updated))]))
    }

    var insert: String {
        "INSERT INTO reviews VALUES (\(id), \(rating), \(name.map { "'" + $0.replacingOccurrences(of: "'", with: "''") + "'" } ?? "NULL"), \(updated))"
    }
}

/// The `sql` source through the runner into a jsonl sink, over SQLite and PostgreSQL alike: the
/// output must equal the rows as the test wrote them.
@Suite(.serialized)
struct SQLSourceTests {
    let directory: URL
    var output: String { directory.appendingPathComponent("out.jsonl").path }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("etl-sql-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    static let engines: [Engine] = PostgresServer.isAvailable ? Engine.allCases : [.sqlite]

    var registry: ComponentRegistry {
        var registry = ComponentRegistry()
        SQLSource.register(into: &registry)
        JSONLinesSink.register(into: &registry)
        return registry
    }

    /// A new empty database: its url, and a way to run statements on it.
    func database(_ engine: Engine) async throws -> TestDatabase {
        switch engine {
        case .sqlite:
            let path = directory.appendingPathComponent("source.sqlite").path
            let queue = try DatabaseQueue(path: path)
            try await queue.writeWithoutTransaction { try $0.execute(sql: "PRAGMA journal_mode = WAL") }
            return TestDatabase(url: "sqlite:\(path)") { sql in try await queue.writeWithoutTransaction { try $0.execute(sql: sql) } }
        case .postgres:
            return try await PostgresServer.shared().freshDatabase()
        }
    }

    /// 60 reviews with awkward names; `updated` repeats (several rows on one second).
    static func seed(_ count: Int) -> [Review] {
        (1...Int64(count)).map { id in
            Review(id: id, rating: id % 2 == 0 ? 5 : Double(id % 5 + 1), name: id % 7 == 0 ? nil : "n\(id) \"q\" 'single' ,\n😀 \\", updated: 1_000 + id / 3)
        }
    }

    func create(_ reviews: [Review], in database: TestDatabase) async throws {
        try await database.execute("CREATE TABLE reviews (id INTEGER PRIMARY KEY, rating REAL, name TEXT, updated INTEGER NOT NULL)")
        for review in reviews { try await database.execute(review.insert) }
    }

    func pipeline(_ database: TestDatabase, _ extract: String, load: String = #""mode": "merge", "primary_key": "id""#) throws -> Pipeline {
        let text = #"{"version": 1, "name": "sql", "extract": {"type": "sql", "url": "${SOURCE_URL}", \#(extract)}, "load": {"type": "jsonl", "path": "\#(output)", \#(load)}}"#
        return try Pipeline.build(file: PipelineFile(path: directory.path + "/p.json", text: text), registry: registry,
                                  environment: ["SOURCE_URL": database.url], redactor: Redactor())
    }

    func runner() throws -> Runner {
        Runner(store: try CheckpointStore(path: directory.appendingPathComponent("state.sqlite").path), logger: Logger(label: "test"), redactor: Redactor(), stop: StopSignal())
    }

    func outputRows() throws -> [JSONValue] {
        func id(_ row: JSONValue) -> Int64 { if case .int(let id)? = row[path: FieldPath("id")!] { id } else { 0 } }
        return try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").map { try JSONParser.parse(String($0)) }.sorted { id($0) < id($1) }
    }

    @Test(arguments: engines)
    func aTableIsReadWholeInKeyOrderByPages(engine: Engine) async throws {
        let database = try await database(engine)
        let reviews = Self.seed(95)
        try await create(reviews, in: database)
        let run = try await runner().start(try pipeline(database, #""table": "reviews", "batch_size": 10"#, load: #""mode": "replace""#))
        #expect(run.records == 95 && run.batches == 10)
        let lines = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").map { try JSONParser.parse(String($0)) }
        #expect(lines == reviews.map(\.json), "every row once, in key order, values as written")
    }

    @Test(arguments: engines)
    func anIncrementalRunReadsOnlyChangedRowsAndEqualsAFullRefresh(engine: Engine) async throws {
        let database = try await database(engine)
        var reviews = Self.seed(60)
        try await create(reviews, in: database)
        let extract = #""table": "reviews", "cursor_column": "updated", "batch_size": 7"#
        let first = try await runner().start(try pipeline(database, extract))
        #expect(first.records == 60)
        let state = try #require(try runner().store.state(pipeline: "sql"))
        #expect(state.cursor.contains("\"last_value\":1020"), "\(state.cursor)")

        // Two rows move past the boundary; a new row lands on the boundary second with a key below
        // the last one read; another later.
        try await database.execute("UPDATE reviews SET rating = 1, updated = 1030 WHERE id IN (3, 40)")
        for index in reviews.indices where [3, 40].contains(reviews[index].id) {
            reviews[index].rating = 1
            reviews[index].updated = 1030
        }
        let added = [Review(id: 0, rating: 2.5, name: "on the boundary", updated: 1020), Review(id: 61, rating: 4, name: nil, updated: 1031)]
        for review in added { try await database.execute(review.insert) }
        reviews = (added + reviews).sorted { $0.id < $1.id }

        let second = try await runner().start(try pipeline(database, extract))
        #expect(second.records == 4, "read \(second.records) rows, not only the 4 changed ones")
        #expect(try outputRows() == reviews.map(\.json))
        #expect(try await runner().start(try pipeline(database, extract)).records == 0, "nothing changed, nothing read")
    }

    @Test(arguments: engines)
    func aRunReadsOneSnapshotWhileTheTableChanges(engine: Engine) async throws {
        let database = try await database(engine)
        try await create(Self.seed(30), in: database)
        let source = try pipeline(database, #""table": "reviews", "batch_size": 10"#).source
        let context = StageContext(runID: 1, runKey: "1_a", pipeline: "sql", logger: Logger(label: "test"))
        let reader = try await source.openReader(after: nil, fields: .everything, context: context)
        let first = try #require(try await reader.next())
        try await database.execute("DELETE FROM reviews WHERE id > 20")
        try await database.execute(Review(id: 100, rating: 1, name: "late", updated: 5000).insert)
        var records = first.records
        while let batch = try await reader.next() { records += batch.records }
        #expect(records == 30, "the run saw the table as it was when it started")
    }

    @Test(arguments: engines)
    func missingTablesAndColumnsAreNamed(engine: Engine) async throws {
        let database = try await database(engine)
        try await create(Self.seed(3), in: database)
        for (extract, message) in [(#""table": "missing""#, "missing"), (#""table": "reviews", "cursor_column": "changed""#, "no column \"changed\""),
                                   (#""query": "SELECT id FROM reviews", "key": "nope""#, "no column \"nope\"")] {
            await #expect(performing: { _ = try await runner().start(try pipeline(database, extract, load: #""mode": "replace""#), options: RunOptions(restart: true)) },
                          throws: { String(describing: $0).contains(message) && String(describing: $0).contains("sql source") })
        }
    }

    @Test func sqliteProblemsSayWhatToCheck() async throws {
        let database = try await database(.sqlite)
        try await database.execute("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)")
        try await database.execute("INSERT INTO blobs VALUES (1, x'00ff')")
        await #expect(performing: { _ = try await runner().start(try pipeline(database, #""table": "blobs""#, load: #""mode": "replace""#)) },
                      throws: { String(describing: $0).contains("BLOB") })
        for (extract, message) in [(#""table": "a b""#, "plain"), (#""query": "SELECT 1""#, "needs \"key\""), (#""key": "id""#, "\"table\""),
                                   (#""table": "t", "query": "SELECT 1", "key": "id""#, "not both")] {
            #expect(performing: { try pipeline(database, extract) }, throws: { String(describing: $0).contains(message) })
        }
        let notDatabase = directory.appendingPathComponent("text.sqlite").path
        try "hello".write(toFile: notDatabase, atomically: true, encoding: .utf8)
        let bad = try pipeline(TestDatabase(url: "sqlite:\(notDatabase)") { _ in }, #""table": "t""#, load: #""mode": "replace""#)
        await #expect(performing: { _ = try await runner().start(bad, options: RunOptions(restart: true)) }, throws: { String(describing: $0).contains("SQLite database") })
        for (url, message) in [("mysql://x", "not a database URL"), ("postgres://localhost/db", "names no user"), ("postgres://u@h/db?sslmode=maybe", "sslmode")] {
            #expect(performing: { try pipeline(TestDatabase(url: url) { _ in }, #""table": "t""#) }, throws: { String(describing: $0).contains(message) })
        }
    }

    @Test(.enabled(if: PostgresServer.isAvailable, PostgresServer.unavailableComment))
    func postgresConnectionProblemsNameTheVariableNeverThePassword() async throws {
        let server = try await PostgresServer.shared()
        let wrongPassword = server.url.replacingOccurrences(of: PostgresServer.password, with: "not-the-password")
        let unreachable = "postgres://etl:secret-pw@127.0.0.1:1/postgres?sslmode=disable"
        for (url, message) in [(wrongPassword, "check the user and password in SOURCE_URL"), (unreachable, "check the host and port in SOURCE_URL")] {
            do {
                _ = try await runner().start(try pipeline(TestDatabase(url: url) { _ in }, #""table": "t""#, load: #""mode": "replace""#), options: RunOptions(restart: true))
                Issue.record("connecting with \(url) worked")
            } catch {
                let text = String(describing: error)
                #expect(text.contains(message), "\(text)")
                #expect(!text.contains("not-the-password") && !text.contains("secret-pw"), "\(text)")
            }
        }
    }
}
