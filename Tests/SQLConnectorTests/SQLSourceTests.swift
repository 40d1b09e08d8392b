import ETLComponents
import ETLCore
import Foundation
import GRDB
import Logging
import SQLConnector
import Testing

/// The `sql` source over a real SQLite file, through the runner into a jsonl sink.
struct SQLSourceTests {
    let directory: URL
    var databasePath: String { directory.appendingPathComponent("source.sqlite").path }
    var output: String { directory.appendingPathComponent("out.jsonl").path }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("etl-sql-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    var registry: ComponentRegistry {
        var registry = ComponentRegistry()
        SQLSource.register(into: &registry)
        JSONLinesSink.register(into: &registry)
        return registry
    }

    func database() throws -> DatabaseQueue {
        let queue = try DatabaseQueue(path: databasePath)
        try queue.writeWithoutTransaction { try $0.execute(sql: "PRAGMA journal_mode = WAL") }
        return queue
    }

    /// Reviews with awkward names; `updated` repeats (several rows on one second).
    func seed(_ count: Int) throws {
        try database().write { db in
            try db.execute(sql: "CREATE TABLE reviews (id INTEGER PRIMARY KEY, rating REAL, name TEXT, updated INTEGER NOT NULL)")
            for id in 1...count {
                try db.execute(sql: "INSERT INTO reviews VALUES (?, ?, ?, ?)",
                               arguments: [id, id % 2 == 0 ? 5.0 : Double(id % 5 + 1), id % 7 == 0 ? nil : "n\(id) \"q\" ,\n😀", 1_000 + id / 3])
            }
        }
    }

    func pipeline(_ extract: String, load: String = #""mode": "merge", "primary_key": "id""#) throws -> Pipeline {
        let text = #"{"version": 1, "name": "sql", "extract": {"type": "sql", "url": "sqlite:\#(databasePath)", \#(extract)}, "load": {"type": "jsonl", "path": "\#(output)", \#(load)}}"#
        return try Pipeline.build(file: PipelineFile(path: directory.path + "/p.json", text: text), registry: registry, environment: [:], redactor: Redactor())
    }

    func runner() throws -> Runner {
        Runner(store: try CheckpointStore(path: directory.appendingPathComponent("state.sqlite").path), logger: Logger(label: "test"), redactor: Redactor(), stop: StopSignal())
    }

    /// The table as the sink should hold it, in id order.
    func tableRows() throws -> [JSONValue] {
        try database().read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM reviews ORDER BY id").map { row in
                var object = JSONObject()
                for (column, value) in row {
                    switch value.storage {
                    case .int64(let int): object[column] = .int(int)
                    case .double(let double): object[column] = .double(double)
                    case .string(let string): object[column] = .string(string)
                    default: object[column] = .null
                    }
                }
                return .object(object)
            }
        }
    }

    func outputRows() throws -> [JSONValue] {
        try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").map { try JSONParser.parse(String($0)) }
            .sorted { ($0[path: FieldPath("id")!].flatMap { if case .int(let id) = $0 { id } else { nil } } ?? 0) < ($1[path: FieldPath("id")!].flatMap { if case .int(let id) = $0 { id } else { nil } } ?? 0) }
    }

    @Test func aTableIsReadWholeInKeyOrderByPages() async throws {
        try seed(95)
        let run = try await runner().start(try pipeline(#""table": "reviews", "batch_size": 10"#, load: #""mode": "replace""#))
        #expect(run.records == 95 && run.batches == 10)
        let lines = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").map { try JSONParser.parse(String($0)) }
        #expect(lines == (try tableRows()), "every row once, in key order, values as stored")
    }

    @Test func anIncrementalRunReadsOnlyChangedRowsAndEqualsAFullRefresh() async throws {
        try seed(60)
        let extract = #""table": "reviews", "cursor_column": "updated", "batch_size": 7"#
        let first = try await runner().start(try pipeline(extract))
        #expect(first.records == 60)
        let state = try #require(try runner().store.state(pipeline: "sql"))
        #expect(state.cursor.contains("\"last_value\":1020"), "\(state.cursor)")

        try await database().write { db in
            // Updates: two rows move past the boundary; a new row lands on the boundary second
            // with a key below the last one read; another later.
            try db.execute(sql: "UPDATE reviews SET rating = 1, updated = 1030 WHERE id IN (3, 40)")
            try db.execute(sql: "INSERT INTO reviews VALUES (0, 2.5, 'on the boundary', 1020)")
            try db.execute(sql: "INSERT INTO reviews VALUES (61, 4, NULL, 1031)")
        }
        let second = try await runner().start(try pipeline(extract))
        #expect(second.records == 4, "read \(second.records) rows, not only the 4 changed ones")
        #expect(try outputRows() == (try tableRows()))
        // Nothing changed since: nothing read.
        #expect(try await runner().start(try pipeline(extract)).records == 0)
    }

    @Test func aRunReadsOneSnapshotWhileTheTableChanges() async throws {
        try seed(30)
        let source = try pipeline(#""table": "reviews", "batch_size": 10"#).source
        let context = StageContext(runID: 1, runKey: "1_a", pipeline: "sql", logger: Logger(label: "test"))
        let reader = try await source.openReader(after: nil, fields: .everything, context: context)
        let first = try #require(try await reader.next())
        try await database().write { db in
            try db.execute(sql: "DELETE FROM reviews WHERE id > 20")
            try db.execute(sql: "INSERT INTO reviews VALUES (100, 1, 'late', 5000)")
        }
        var records = first.records
        while let batch = try await reader.next() { records += batch.records }
        #expect(records == 30, "the run saw the table as it was when it started")
    }

    @Test func problemsSayWhatToCheck() async throws {
        try seed(3)
        try await database().write { try $0.execute(sql: "CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB); INSERT INTO blobs VALUES (1, x'00ff')") }
        let cases: [(String, String)] = [
            (#""table": "missing""#, "no such table"),
            (#""table": "reviews", "cursor_column": "changed""#, "no column \"changed\""),
            (#""query": "SELECT id FROM reviews", "key": "nope""#, "no column \"nope\""),
            (#""table": "blobs""#, "BLOB"),
        ]
        for (extract, message) in cases {
            await #expect(performing: { _ = try await runner().start(try pipeline(extract, load: #""mode": "replace""#), options: RunOptions(restart: true)) },
                          throws: { String(describing: $0).contains(message) })
        }
        for (extract, message) in [(#""table": "a b""#, "plain"), (#""query": "SELECT 1""#, "needs \"key\""), (#""key": "id""#, "\"table\""),
                                   (#""table": "t", "query": "SELECT 1", "key": "id""#, "not both")] {
            #expect(performing: { try pipeline(extract) }, throws: { String(describing: $0).contains(message) })
        }
        let notDatabase = directory.appendingPathComponent("text.sqlite").path
        try "hello".write(toFile: notDatabase, atomically: true, encoding: .utf8)
        let text = #"{"version": 1, "name": "sql2", "extract": {"type": "sql", "url": "sqlite:\#(notDatabase)", "table": "t"}, "load": {"type": "jsonl", "path": "\#(output)"}}"#
        let bad = try Pipeline.build(file: PipelineFile(path: directory.path + "/p2.json", text: text), registry: registry, environment: [:], redactor: Redactor())
        await #expect(performing: { _ = try await runner().start(bad) }, throws: { String(describing: $0).contains("SQLite database") })
    }
}
