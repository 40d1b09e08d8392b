import ETLCore
import Foundation
@testable import KafkaConnector
import Logging
import Testing

/// The embedded queue: durable appends with group commit, reading while it grows, crash recovery.
struct EmbeddedLogTests {
    let directory: String

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("etl-queue-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    var source: KafkaSource { KafkaSource(topic: "events", brokers: "", group: "test", queueDirectory: directory, batchSize: 100, maxBatchWait: .milliseconds(50)) }
    var logPath: String { EmbeddedLog.path(directory: directory, topic: "events") }

    func context(following: Bool = false) -> StageContext {
        StageContext(runID: 1, runKey: "test", pipeline: "test", logger: Logger(label: "test"), mode: .append, replacesLive: false, following: following)
    }

    static func message(_ index: Int) -> TopicMessage {
        TopicMessage(key: "key-\(index % 7)", value: Array(#"{"n": \#(index), "text": "line \#(index) \"quoted\" é"}"#.utf8))
    }

    /// Every record from `cursor` on, as (offset, n), and the cursor after the last.
    func readAll(after cursor: JSONValue? = nil) async throws -> (records: [(offset: Int64, n: Int64)], cursor: JSONValue?) {
        let reader = try await source.openReader(after: cursor, fields: .everything, context: context())
        var records: [(Int64, Int64)] = []
        var last = cursor
        while let batch = try await reader.next() {
            for case .object(let record) in batch.rows.values {
                guard case .int(let offset)? = record["_offset"], case .int(let n)? = record["n"] else {
                    Issue.record("a record without _offset or n: \(record)")
                    continue
                }
                records.append((offset, n))
            }
            last = batch.cursor
        }
        return (records, last)
    }

    @Test func concurrentPublishesAreAllDurableInOneOrderAndReadBackWithTheirOffsets() async throws {
        let writer = try await source.makePublisher(logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<20 {
                group.addTask {
                    for index in stride(from: task, to: 2000, by: 20) { try await writer.publish([Self.message(index)]) }
                }
            }
            try await group.waitForAll()
        }
        try await writer.publish((2000..<2100).map(Self.message))
        await writer.close()

        let (records, cursor) = try await readAll()
        #expect(records.count == 2100)
        #expect(records.map(\.offset) == (0..<2100).map(Int64.init))
        #expect(Set(records.map(\.n)) == Set((0..<2100).map(Int64.init)))
        #expect(records.suffix(100).map(\.n) == (2000..<2100).map(Int64.init), "one publish keeps its messages together and in order")

        // A reader from the cursor sees only what comes after it.
        let again = try await source.makePublisher(logger: Logger(label: "test"))
        try await again.publish([Self.message(5000)])
        await again.close()
        let (rest, _) = try await readAll(after: cursor)
        #expect(rest.map(\.offset) == [2100])
        #expect(rest.map(\.n) == [5000])
    }

    @Test func aSecondWriterIsRefusedWhileTheFirstHoldsTheQueue() async throws {
        let first = try await source.makePublisher(logger: Logger(label: "test"))
        await #expect(throws: ETLError.self) { _ = try await source.makePublisher(logger: Logger(label: "test")) }
        await first.close()
        let second = try await source.makePublisher(logger: Logger(label: "test"))
        await second.close()
    }

    @Test func aTornLastRecordIsCutOffAndDamageBeforeTheEndIsRefused() async throws {
        let writer = try await source.makePublisher(logger: Logger(label: "test"))
        try await writer.publish((0..<3).map(Self.message))
        await writer.close()
        let whole = try FileManager.default.attributesOfItem(atPath: logPath)[.size] as! Int

        // A crash in the middle of a write: half a record at the end.
        var torn: [UInt8] = []
        EmbeddedLog.frame(Self.message(3), into: &torn)
        let handle = try #require(FileHandle(forWritingAtPath: logPath))
        handle.seekToEndOfFile()
        handle.write(Data(torn.prefix(torn.count / 2)))
        try handle.close()
        #expect(try await readAll().records.count == 3, "a reader stops before the torn record")

        let reopened = try await source.makePublisher(logger: Logger(label: "test"))
        #expect(try FileManager.default.attributesOfItem(atPath: logPath)[.size] as! Int == whole)
        try await reopened.publish([Self.message(4)])
        await reopened.close()
        #expect(try await readAll().records.map(\.n) == [0, 1, 2, 4])

        // A flipped byte inside the second record: refused, by the writer and the reader alike.
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: logPath)))
        let secondRecord = EmbeddedLog.headerLength + (bytes.count / 4)
        bytes[secondRecord + 12] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: logPath))
        await #expect(throws: ETLError.self) { _ = try await source.makePublisher(logger: Logger(label: "test")) }
        await #expect(throws: ETLError.self) { _ = try await readAll() }
    }

    @Test func aFollowingReaderPicksUpWhatIsPublishedWhileItWaits() async throws {
        let reader = try await source.openReader(after: nil, fields: .everything, context: context(following: true))
        #expect(try await reader.next() == nil, "no queue file yet is an empty topic")
        let writer = try await source.makePublisher(logger: Logger(label: "test"))
        let publishing = Task {
            for index in 0..<10 {
                try await writer.publish([Self.message(index)])
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        var seen = 0
        let deadline = ContinuousClock.now + .seconds(10)
        while seen < 10, ContinuousClock.now < deadline {
            seen += try await reader.next()?.records ?? 0
        }
        try await publishing.value
        await writer.close()
        #expect(seen == 10)
    }
}
