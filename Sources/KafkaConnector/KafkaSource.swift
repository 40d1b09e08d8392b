import ETLCore
import Foundation
import Logging

/// `kafka` source: the JSON messages of a topic, each record with the message's `_partition` and
/// `_offset` added. Continuous: its pipeline needs `append` or `merge`, `etl serve` follows it, and
/// a new run goes on from the previous run's cursor. `etl serve` publishes to the topic through the
/// pipeline's ingest routes.
///
/// With `brokers` (`KAFKA_BROKERS`), a Kafka topic read by consumer group `group` (`KafkaReader`,
/// cursor: each partition's next offset). Without, the embedded queue (`EmbeddedLog`): a log of
/// one partition under `queue_path`, for one machine without a broker (cursor: the next offset
/// and its byte position).
public struct KafkaSource: PublishingSource {
    public let topic: String
    /// Comma-separated `host:port`; empty for the embedded queue.
    public let brokers: String
    public let group: String
    public let queueDirectory: String
    public let batchSize: Int
    public let maxBatchWait: Duration

    public var isIncremental: Bool { true }
    public var isContinuous: Bool { true }
    public var pollInterval: Duration { .milliseconds(50) }

    public static func register(into registry: inout ComponentRegistry) {
        registry.registerSource("kafka") { config in
            let topic = config.string("topic", default: "captcha-events")
            let brokers = config.string("brokers", default: "")
            let group = config.string("group", default: "etl")
            let directory = config.string("queue_path", default: ".etl/queues")
            let batchSize = config.int("batch_size", default: 10_000, in: 1...1_000_000)
            let wait = config.int("max_batch_wait_ms", default: 200, in: 0...3_600_000)
            guard isTopicName(topic) else {
                config.report("\"\(topic)\" is not a topic name (1 to 249 of letters, digits, '.', '_' and '-')", at: "topic")
                return nil
            }
            for broker in brokers.split(separator: ",") where broker.split(separator: ":").count != 2 || Int(broker.split(separator: ":").last ?? "") == nil {
                config.report("\"\(broker)\" is not host:port (brokers is a comma-separated list, such as kafka-1:9092,kafka-2:9092)", at: "brokers")
            }
            return KafkaSource(topic: topic, brokers: brokers, group: group, queueDirectory: directory, batchSize: batchSize, maxBatchWait: .milliseconds(wait))
        }
    }

    /// A Kafka cursor: each partition's next offset.
    static func cursor(_ next: [Int32: Int64]) -> JSONValue {
        .object(JSONObject([("partitions", .object(JSONObject(next.sorted { $0.key < $1.key }.map { (String($0.key), JSONValue.int($0.value)) })))]))
    }

    static func offsets(in cursor: JSONValue) -> [Int32: Int64] {
        guard case .object(let partitions)? = cursor[path: FieldPath("partitions")!] else { return [:] }
        var offsets: [Int32: Int64] = [:]
        for field in partitions.fields {
            if let partition = Int32(field.key), case .int(let offset) = field.value { offsets[partition] = offset }
        }
        return offsets
    }

    /// Kafka's rule for topic names.
    static func isTopicName(_ name: String) -> Bool {
        (1...249).contains(name.utf8.count) && name != "." && name != ".."
            && name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0)) }
    }

    public func makePublisher(logger: Logger) async throws -> any TopicPublisher {
        if !brokers.isEmpty {
            logger.info("ingest publishes to Kafka topic \(topic) at \(brokers)")
            return try KafkaPublisher(brokers: brokers, topic: topic, logger: logger)
        }
        let writer = try EmbeddedLogWriter(directory: queueDirectory, topic: topic)
        logger.info("ingest publishes to the embedded queue \(EmbeddedLog.path(directory: queueDirectory, topic: topic)) (KAFKA_BROKERS is not set)")
        return writer
    }

    public func openReader(after cursor: JSONValue?, fields: FieldSelection, context: StageContext) async throws -> any SourceReader {
        if !brokers.isEmpty {
            var next: [Int32: Int64] = [:]
            if let cursor {
                guard case .object? = cursor[path: FieldPath("partitions")!] else {
                    throw ETLError(.stageFailed, "kafka source \(topic): the saved cursor \(JSONWriter.string(cursor)) is not a Kafka cursor (the last run read the embedded queue); read the topic from the start with `etl run PIPELINE --full-refresh`")
                }
                next = Self.offsets(in: cursor)
            }
            let instance = context.storeKey.isEmpty ? "" : "\(context.pipeline)-\(context.storeKey)"
            return try KafkaReader(brokers: brokers, topic: topic, group: group, instance: instance, next: next, batchSize: batchSize, maxBatchWait: maxBatchWait,
                                   following: context.following, fields: fields, logger: context.logger)
        }
        var offset: Int64 = 0
        var position: Int64 = 0
        if let cursor {
            guard case .int(let savedOffset)? = cursor[path: FieldPath("offset")!], case .int(let savedPosition)? = cursor[path: FieldPath("position")!] else {
                throw ETLError(.stageFailed, "kafka source \(topic): the saved cursor \(JSONWriter.string(cursor)) is not an embedded queue cursor (the last run read Kafka); read the topic from the start with `etl run PIPELINE --full-refresh`")
            }
            (offset, position) = (savedOffset, savedPosition)
        }
        return EmbeddedLogReader(path: EmbeddedLog.path(directory: queueDirectory, topic: topic), offset: offset, position: position,
                                 batchSize: batchSize, fields: fields, following: context.following, maxBatchWait: maxBatchWait)
    }
}

/// Reads an embedded log from a cursor, while it grows. A file that does not exist yet is an
/// empty topic (no event was published yet).
final class EmbeddedLogReader: SourceReader {
    private let path: String
    private let batchSize: Int
    private let fields: FieldSelection
    private let following: Bool
    private let maxBatchWait: Duration
    private var offset: Int64
    private let startPosition: Int64
    private var scanner: RecordScanner?
    private var descriptor: Int32 = -1

    let expectedTotal: Int? = nil

    init(path: String, offset: Int64, position: Int64, batchSize: Int, fields: FieldSelection, following: Bool, maxBatchWait: Duration) {
        self.path = path
        self.offset = offset
        startPosition = position
        self.batchSize = batchSize
        self.fields = fields
        self.following = following
        self.maxBatchWait = maxBatchWait
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
    }

    /// The scanner, once the file exists.
    private func openScanner() throws -> RecordScanner? {
        if let scanner { return scanner }
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT { return nil }
            throw EmbeddedLog.systemError("open", path)
        }
        var status = stat()
        if fstat(descriptor, &status) == 0, Int64(status.st_size) < startPosition {
            throw ETLError(.stageFailed, "kafka source: \(path) is shorter than where it was last read (byte \(startPosition)), so the queue was replaced; read it from the start with `etl run PIPELINE --full-refresh`")
        }
        scanner = RecordScanner(descriptor: descriptor, position: startPosition)
        return scanner
    }

    func next() async throws -> SourceBatch? {
        var records: [JSONValue] = []
        let clock = ContinuousClock()
        var deadline: ContinuousClock.Instant?
        while records.count < batchSize {
            guard let scanner = try openScanner() else { break }
            let next = try scanner.next(path: path)
            let position = scanner.position
            switch next {
            case .record(_, let value):
                var record: JSONValue
                do {
                    record = try JSONParser.parse(value, reading: fields)
                } catch {
                    throw ETLError(.stageFailed, "kafka source: the message at offset \(offset) of \(path) is not JSON (\(error)); only etl's ingest writes this queue, so it was written by something else")
                }
                guard case .object(var object) = record else {
                    throw ETLError(.stageFailed, "kafka source: the message at offset \(offset) of \(path) is a JSON \(record.kindName), not an object")
                }
                object["_partition"] = .int(0)
                object["_offset"] = .int(offset)
                record = .object(object)
                records.append(record)
                offset += 1
                if deadline == nil, following { deadline = clock.now + maxBatchWait }
            case .incomplete:
                guard let deadline, clock.now < deadline else {
                    return batch(records)
                }
                try await Task.sleep(for: .milliseconds(5))
            case .damaged(let what):
                throw ETLError(.stageFailed, "kafka source: \(path) is damaged at byte \(position) (offset \(offset)): \(what); see RUNBOOK.md, \"The embedded queue is damaged\"")
            }
        }
        return batch(records)
    }

    private func batch(_ records: [JSONValue]) -> SourceBatch? {
        guard !records.isEmpty, let scanner else { return nil }
        return SourceBatch(records: records, cursor: .object(JSONObject([("offset", .int(offset)), ("position", .int(scanner.position))])))
    }
}
