import ClickHouseConnector
import ETLComponents
import ETLCore
import Foundation
import Logging
import Testing

/// The contract every sink must keep for the runner's exactly-once promise, in every write mode it
/// supports, run against each sink (as dlt runs its destination tests over destinations). A new
/// sink adds one case to `SinkUnderTest.all`.
@Suite(.serialized, .enabled(if: ClickHouseHarness.isAvailable, ClickHouseHarness.unavailableComment), SharedClickHouse())
struct SinkContractTests {
    /// A sink as the suite drives it: how to build it for a mode, and how to read its live rows.
    struct SinkUnderTest: Sendable, CustomTestStringConvertible {
        let name: String
        /// The load stage's JSON for a table or file named `target`, without `mode`.
        let load: @Sendable (_ target: String, _ directory: TemporaryDirectory) -> String
        /// The live rows as (id, text), sorted by id: what a reader of the sink's output sees.
        let liveRows: @Sendable (_ target: String, _ directory: TemporaryDirectory, _ mode: WriteMode) async throws -> [Row]
        var testDescription: String { name }

        static let all: [SinkUnderTest] = [jsonl, clickHouse]

        static let jsonl = SinkUnderTest(name: "jsonl", load: { target, directory in
            #"{"type": "jsonl", "path": "\#(directory.path(target + ".jsonl"))""#
        }, liveRows: { target, directory, _ in
            guard let data = FileManager.default.contents(atPath: directory.path(target + ".jsonl")) else { return [] }
            return try data.split(separator: 0x0A).map { line in
                guard case .object(let object) = try JSONParser.parse(Array(line)), case .int(let id)? = object["id"], case .string(let text)? = object["text"]
                else { throw TestFailure("unexpected line \(String(decoding: line, as: UTF8.self))") }
                return Row(id: id, text: Array(text.utf8))
            }.sorted()
        })

        static let clickHouse = SinkUnderTest(name: "clickhouse", load: { target, _ in
            #"{"type": "clickhouse", "url": "${CLICKHOUSE_URL}", "user": "${CLICKHOUSE_USER:-default}", "password": "${CLICKHOUSE_PASSWORD:-}", "database": "${CLICKHOUSE_DATABASE}", "table": "\#(target)", "columns": {"id": "Int64", "text": "String"}, "order_by": "id", "max_retry_seconds": 5"#
        }, liveRows: { target, _, mode in
            let environment = try #require(Environment.current)
            let client = clickHouseClient(for: environment)
            let final = if case .merge = mode { " FINAL" } else { "" }
            do {
                return try await client.rows("SELECT id, hex(text) FROM `\(target)`\(final) ORDER BY id").map { Row(id: Int64($0[0])!, text: hexBytes($0[1])) }.sorted()
            } catch let error as ClickHouseError where error.code == 60 {
                return []  // not created yet
            }
        })
    }

    struct Row: Equatable, Comparable, CustomStringConvertible {
        let id: Int64
        let text: [UInt8]
        var description: String { "\(id): \(String(decoding: text, as: UTF8.self).debugDescription)" }
        static func < (a: Row, b: Row) -> Bool { a.id != b.id ? a.id < b.id : a.text.lexicographicallyPrecedes(b.text) }
    }

    /// The environment the ClickHouse case reads its server from.
    enum Environment {
        @TaskLocal static var current: [String: String]?
    }

    static let awkward = ["Tee", "Tee ", "q\"uote 'single'", "back\\slash", "tab\there", "new\nline", "cr\rreturn", "NUL\u{0}byte",
                          "emoji 🎉", "Cafe\u{301}", "Café", "日本語", "", " ", String(repeating: "long ", count: 80)]

    static func hexBytes(_ hex: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }

    static let modes: [String] = ["replace", "append", "merge"]

    func pipeline(_ sink: SinkUnderTest, mode: String, target: String, directory: TemporaryDirectory, environment: [String: String]) throws -> Pipeline {
        let modeKeys = mode == "merge" ? #", "mode": "merge", "primary_key": "id""# : #", "mode": "\#(mode)""#
        let text = #"{"version": 1, "name": "contract", "extract": {"type": "jsonl", "path": "unused.jsonl"}, "load": \#(sink.load(target, directory))\#(modeKeys)}}"#
        var registry = ComponentRegistry()
        JSONLinesSource.register(into: &registry)
        JSONLinesSink.register(into: &registry)
        ClickHouseSink.register(into: &registry)
        return try Pipeline.build(file: PipelineFile(path: directory.path("contract.json"), text: text), registry: registry, environment: environment, redactor: Redactor())
    }

    func context(_ pipeline: Pipeline, run: Int64, replacesLive: Bool) -> StageContext {
        StageContext(runID: run, runKey: "\(run)_c0ffee", pipeline: pipeline.name, logger: Logger(label: "contract"), mode: pipeline.mode, replacesLive: replacesLive)
    }

    /// A batch of (id, text) rows as a table, the way `select` makes them, or as values.
    func batch(_ sequence: Int, _ rows: [(Int64, String)], asTable: Bool) -> LoadBatch {
        let content: Rows
        if asTable {
            var table = RowTable(columns: ["id", "text"])
            for (id, text) in rows {
                table.append(JSONValue.int(id))
                table.append(JSONValue.string(text))
                table.finishRow()
            }
            content = .table(table)
        } else {
            content = .values(rows.map { .object(JSONObject([("id", .int($0.0)), ("text", .string($0.1))])) })
        }
        return LoadBatch(sequence: sequence, hash: SHA256.hex(Array("\(sequence) \(rows)".utf8)), rows: content)
    }

    /// Runs `body` with the sink built for `mode` on a fresh database and directory.
    func withSink(_ sink: SinkUnderTest, mode: String, target: String,
                  _ body: (_ pipeline: Pipeline, _ directory: TemporaryDirectory) async throws -> Void) async throws {
        let environment = try await SharedClickHouse.freshDatabase()
        try await Environment.$current.withValue(environment) {
            let directory = try TemporaryDirectory()
            try await body(try pipeline(sink, mode: mode, target: target, directory: directory, environment: environment), directory)
        }
    }

    func expected(_ rows: [(Int64, String)]) -> [Row] {
        rows.map { Row(id: $0.0, text: Array($0.1.utf8)) }.sorted()
    }

    @Test(arguments: SinkUnderTest.all, modes)
    func landedBatchesSurviveASessionAndDiscardRemovesThem(sink: SinkUnderTest, mode: String) async throws {
        try await withSink(sink, mode: mode, target: "landed") { pipeline, directory in
            let context = context(pipeline, run: 7, replacesLive: mode == "replace")
            let first = try await pipeline.sink.openSession(context: context)
            let batches = (1...3).map { batch($0, [(Int64($0) * 10, "row \($0)"), (Int64($0) * 10 + 1, "other \($0)")], asTable: $0 != 2) }
            for batch in batches { try await first.load(batch) }
            // A new session of the same run, as after a crash: it finds every batch, whole.
            let reopened = try await pipeline.sink.openSession(context: context)
            let landed = try await reopened.landedBatches()
            #expect(landed == Dictionary(uniqueKeysWithValues: batches.map { ($0.sequence, StagedBatch(hash: $0.hash, rows: 2)) }))
            // Another run's session sees none of them.
            #expect(try await pipeline.sink.openSession(context: self.context(pipeline, run: 8, replacesLive: mode == "replace")).landedBatches().isEmpty)

            try await reopened.discardBatches(from: 2)
            #expect(try await reopened.landedBatches().keys.sorted() == [1])
            try await reopened.load(batches[2])
            try await reopened.complete()
            try await reopened.complete()  // idempotent
            let live = try await sink.liveRows("landed", directory, pipeline.mode)
            if mode == "merge" {
                // A merged batch's rows are the live data's once written; discarding forgets the record only.
                #expect(live.contains(Row(id: 30, text: Array("row 3".utf8))) && live.contains(Row(id: 10, text: Array("row 1".utf8))))
            } else {
                #expect(live == expected([(10, "row 1"), (11, "other 1"), (30, "row 3"), (31, "other 3")]))
            }
        }
    }

    @Test(arguments: SinkUnderTest.all, modes)
    func eachModeShowsTheLiveDataItPromises(sink: SinkUnderTest, mode: String) async throws {
        try await withSink(sink, mode: mode, target: "modes") { pipeline, directory in
            // Run 1 writes ids 1-4; run 2 writes ids 3-6 with new texts.
            let runs: [[(Int64, String)]] = [[(1, "a1"), (2, "a2"), (3, "a3"), (4, "a4")], [(3, "b3"), (4, "b4"), (5, "b5"), (6, "b6")]]
            for (index, rows) in runs.enumerated() {
                let session = try await pipeline.sink.openSession(context: context(pipeline, run: Int64(index + 1), replacesLive: mode == "replace"))
                try await session.load(batch(1, Array(rows.prefix(2)), asTable: true))
                try await session.load(batch(2, Array(rows.suffix(2)), asTable: false))
                let beforeComplete = try await sink.liveRows("modes", directory, pipeline.mode)
                switch mode {
                case "replace":
                    // Staged, not live: readers still see the previous run whole.
                    #expect(beforeComplete == (index == 0 ? [] : expected(runs[0])))
                default:
                    #expect(beforeComplete.count >= rows.count, "append and merge batches are live once loaded")
                }
                try await session.complete()
            }
            let live = try await sink.liveRows("modes", directory, pipeline.mode)
            switch mode {
            case "replace": #expect(live == expected(runs[1]))
            case "append": #expect(live == expected(runs[0] + runs[1]))
            default: #expect(live == expected([(1, "a1"), (2, "a2"), (3, "b3"), (4, "b4"), (5, "b5"), (6, "b6")]))
            }
        }
    }

    @Test(arguments: SinkUnderTest.all, modes)
    func awkwardStringsArriveByteForByte(sink: SinkUnderTest, mode: String) async throws {
        try await withSink(sink, mode: mode, target: "awkward") { pipeline, directory in
            let rows = Self.awkward.enumerated().map { (Int64($0.offset), $0.element) }
            let session = try await pipeline.sink.openSession(context: context(pipeline, run: 1, replacesLive: mode == "replace"))
            try await session.load(batch(1, Array(rows.prefix(7)), asTable: true))
            try await session.load(batch(2, Array(rows.dropFirst(7)), asTable: false))
            try await session.complete()
            let live = try await sink.liveRows("awkward", directory, pipeline.mode)
            #expect(live == expected(rows))
        }
    }
}
