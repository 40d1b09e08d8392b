import CRdKafka
import ETLCore
import Foundation
import Logging
import Synchronization

/// librdkafka, wrapped: the only file that calls it.
enum Kafka {
    /// A librdkafka handle made from `settings`; errors name the setting or say what to check.
    static func handle(_ type: rd_kafka_type_t, _ settings: [(String, String)], configure: (OpaquePointer) -> Void = { _ in }) throws -> OpaquePointer {
        let configuration = rd_kafka_conf_new()!
        var error = [CChar](repeating: 0, count: 512)
        for (key, value) in settings where rd_kafka_conf_set(configuration, key, value, &error, error.count) != RD_KAFKA_CONF_OK {
            rd_kafka_conf_destroy(configuration)
            throw ETLError(.stageFailed, "kafka: cannot set \(key): \(text(error))")
        }
        configure(configuration)
        guard let handle = rd_kafka_new(type, configuration, &error, error.count) else {
            rd_kafka_conf_destroy(configuration)  // rd_kafka_new takes it only on success
            throw ETLError(.stageFailed, "kafka: cannot start a client: \(text(error)); check KAFKA_BROKERS")
        }
        return handle
    }

    static func describe(_ error: rd_kafka_resp_err_t) -> String {
        String(cString: rd_kafka_err2str(error))
    }

    /// What made `handle` unusable, after librdkafka reported `RD_KAFKA_RESP_ERR__FATAL`.
    static func fatalError(of handle: OpaquePointer) -> String {
        var text = [CChar](repeating: 0, count: 512)
        let error = rd_kafka_fatal_error(handle, &text, text.count)
        return "\(describe(error)): \(Self.text(text))"
    }

    /// The NUL-terminated text librdkafka wrote into `buffer`.
    private static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Publishes to a Kafka topic with an idempotent producer and `acks=all`: a message counts as
/// published once every in-sync replica has it, and a retried send is never written twice. Keys
/// pick partitions with Java's murmur2, as other Kafka clients do.
final class KafkaPublisher: TopicPublisher, @unchecked Sendable {
    private let handle: OpaquePointer
    private let topicHandle: OpaquePointer
    private let topic: String
    private let polling = Atomic(true)
    private let pollerDone = DispatchSemaphore(value: 0)

    /// The messages of one `publish`: resumed once every delivery report is in.
    final class Delivery: @unchecked Sendable {
        private let lock = NSLock()
        private var remaining: Int
        private var failure: String?
        private let continuation: CheckedContinuation<Void, any Error>

        init(count: Int, continuation: CheckedContinuation<Void, any Error>) {
            remaining = count
            self.continuation = continuation
        }

        func report(_ count: Int = 1, failure: String?) {
            lock.lock()
            remaining -= count
            if self.failure == nil { self.failure = failure }
            let done = remaining == 0
            let outcome = self.failure
            lock.unlock()
            guard done else { return }
            if let outcome { continuation.resume(throwing: ETLError(.stageFailed, "kafka: a message was not delivered: \(outcome)")) } else { continuation.resume() }
        }
    }

    init(brokers: String, topic: String, logger: Logger) throws {
        self.topic = topic
        handle = try Kafka.handle(RD_KAFKA_PRODUCER, [
            ("bootstrap.servers", brokers), ("enable.idempotence", "true"), ("acks", "all"), ("partitioner", "murmur2_random"),
            // A request waits this long for a dead broker before it is answered 503.
            ("message.timeout.ms", "10000"), ("linger.ms", "2"),
        ]) { configuration in
            rd_kafka_conf_set_dr_msg_cb(configuration) { _, message, _ in
                guard let message, let opaque = message.pointee._private else { return }
                let delivery = Unmanaged<Delivery>.fromOpaque(opaque).takeRetainedValue()
                delivery.report(failure: message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : Kafka.describe(message.pointee.err))
            }
        }
        guard let topicHandle = rd_kafka_topic_new(handle, topic, nil) else {
            rd_kafka_destroy(handle)
            throw ETLError(.stageFailed, "kafka: cannot open topic \(topic): \(Kafka.describe(rd_kafka_last_error()))")
        }
        self.topicHandle = topicHandle
        // Delivery reports arrive through rd_kafka_poll, on a thread of their own.
        // Holds the publisher until `close` stops it.
        let thread = Thread { [self] in
            while polling.load(ordering: .relaxed) { rd_kafka_poll(handle, 50) }
            pollerDone.signal()
        }
        thread.name = "etl-kafka-producer"
        thread.start()
    }

    func publish(_ messages: [TopicMessage]) async throws {
        guard !messages.isEmpty else { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let delivery = Delivery(count: messages.count, continuation: continuation)
            for (index, message) in messages.enumerated() {
                let opaque = Unmanaged.passRetained(delivery).toOpaque()
                let status = message.value.withUnsafeBytes { value in
                    Array(message.key.utf8).withUnsafeBytes { key in
                        rd_kafka_produce(topicHandle, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, UnsafeMutableRawPointer(mutating: value.baseAddress), value.count,
                                         key.baseAddress, key.count, opaque)
                    }
                }
                if status != 0 {
                    Unmanaged<Delivery>.fromOpaque(opaque).release()
                    delivery.report(messages.count - index, failure: "\(Kafka.describe(rd_kafka_last_error())) (the producer's queue is full or the topic is unknown)")
                    return
                }
            }
        }
    }

    func close() async {
        rd_kafka_flush(handle, 10_000)
        polling.store(false, ordering: .relaxed)
        pollerDone.wait()
        rd_kafka_topic_destroy(topicHandle)
        rd_kafka_destroy(handle)
    }
}

/// Reads a Kafka topic as a member of a consumer group. Offsets are committed only in
/// `acknowledge`, after the runner checkpointed the batch, so a crash re-reads at most the
/// batches since; the run's cursor (each partition's next offset) skips what this consumer
/// already loaded. Partitions move between the group's consumers as they come and go (librdkafka's
/// rebalancing); a partition taken over starts at the group's committed offset. A consumer
/// restarted after a crash rejoins as the same static member, so the group does not wait for the
/// dead one; one that does not come back has its partitions moved after `session.timeout.ms`.
final class KafkaReader: SourceReader {
    private let handle: OpaquePointer
    private let topic: String
    private let brokers: String
    private let batchSize: Int
    private let maxBatchWait: Duration
    private let following: Bool
    private let fields: FieldSelection
    private let logger: Logger
    /// Each partition's next offset to read: the cursor.
    private var next: [Int32: Int64]
    /// Partitions that reached their end since their last message.
    private var atEnd: Set<Int32> = []
    private var committed: [Int32: Int64] = [:]

    let expectedTotal: Int? = nil
    /// How long a run that does not follow waits for its partitions before it fails.
    static let assignmentTimeout = Duration.seconds(60)

    /// `instance`: the group member's name, the same every time this consumer restarts with its
    /// checkpoint store (`StageContext.storeKey`), and unique in the group; empty for a dynamic member.
    init(brokers: String, topic: String, group: String, instance: String, next: [Int32: Int64], batchSize: Int, maxBatchWait: Duration, following: Bool,
         fields: FieldSelection, logger: Logger) throws {
        self.topic = topic
        self.fields = fields
        self.brokers = brokers
        self.next = next
        self.batchSize = batchSize
        self.maxBatchWait = maxBatchWait
        self.following = following
        self.logger = logger
        var settings = [
            ("bootstrap.servers", brokers), ("group.id", group), ("enable.auto.commit", "false"), ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"), ("enable.partition.eof", "true"),
            // How long the partitions of a consumer that died (and was not restarted) wait
            // before the group hands them to the others.
            ("session.timeout.ms", "10000"),
        ]
        // A static member (KIP-345): restarted after a crash, this consumer takes its own member
        // and partitions back at once, instead of waiting for the group to time the dead member
        // out and rebalance.
        if !instance.isEmpty { settings.append(("group.instance.id", instance)) }
        handle = try Kafka.handle(RD_KAFKA_CONSUMER, settings)
        rd_kafka_poll_set_consumer(handle)
        let topics = rd_kafka_topic_partition_list_new(1)!
        defer { rd_kafka_topic_partition_list_destroy(topics) }
        rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA)
        let status = rd_kafka_subscribe(handle, topics)
        guard status == RD_KAFKA_RESP_ERR_NO_ERROR else {
            rd_kafka_destroy(handle)
            throw ETLError(.stageFailed, "kafka: cannot subscribe to \(topic): \(Kafka.describe(status))")
        }
    }

    deinit {
        rd_kafka_consumer_close(handle)
        rd_kafka_destroy(handle)
    }

    /// The partitions assigned to this consumer now.
    private func assignment() -> Set<Int32> {
        var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
        guard rd_kafka_assignment(handle, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list else { return [] }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        return Set((0..<Int(list.pointee.cnt)).map { list.pointee.elems[$0].partition })
    }

    /// Every assigned partition is read to its end.
    private func caughtUp() -> Bool {
        let assigned = assignment()
        return !assigned.isEmpty && assigned.isSubset(of: atEnd)
    }

    func next() async throws -> SourceBatch? {
        var records: [JSONValue] = []
        let clock = ContinuousClock()
        let started = clock.now
        var deadline = following ? clock.now + maxBatchWait : nil
        while records.count < batchSize {
            guard let message = rd_kafka_consumer_poll(handle, 0) else {
                if caughtUp() || deadline.map({ clock.now >= $0 }) == true { break }
                if !following, clock.now - started > Self.assignmentTimeout {
                    throw ETLError(.stageFailed, "kafka: no partition of topic \(topic) was read to its end within \(Self.assignmentTimeout); check KAFKA_BROKERS (\(brokers)) and that the topic exists")
                }
                try await Task.sleep(for: .milliseconds(5))
                continue
            }
            defer { rd_kafka_message_destroy(message) }
            let partition = message.pointee.partition
            switch message.pointee.err {
            case RD_KAFKA_RESP_ERR_NO_ERROR:
                break
            case RD_KAFKA_RESP_ERR__PARTITION_EOF:
                atEnd.insert(partition)
                continue
            case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
                throw ETLError(.stageFailed, "kafka: no broker of \(brokers) answers; check KAFKA_BROKERS and that the brokers run")
            case RD_KAFKA_RESP_ERR__FATAL:
                // Typically fenced: another consumer joined with this one's group.instance.id.
                throw ETLError(.stageFailed, "kafka: fatal: \(Kafka.fatalError(of: handle)); if another etl uses this checkpoint file or a copy of it, give each its own ETL_STATE_PATH")
            case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
                logger.warning("kafka: topic \(topic) does not exist yet; waiting for it (create it, or let the first event create it)")
                continue
            case let error:
                logger.warning("kafka: \(Kafka.describe(error)) (librdkafka retries)")
                continue
            }
            atEnd.remove(partition)
            let offset = message.pointee.offset
            // Already loaded by this consumer: re-delivered after a crash before its commit.
            if let first = next[partition], offset < first { continue }
            let value = UnsafeRawBufferPointer(start: message.pointee.payload, count: message.pointee.len).bindMemory(to: UInt8.self)
            guard case .object(var record) = try? JSONParser.parse(value, reading: fields) else {
                throw ETLError(.stageFailed, "kafka: the message at partition \(partition), offset \(offset) of topic \(topic) is not a JSON object; only etl's ingest should write this topic")
            }
            record["_partition"] = .int(Int64(partition))
            record["_offset"] = .int(offset)
            records.append(.object(record))
            next[partition] = offset + 1
            if deadline == nil { deadline = clock.now + maxBatchWait }
        }
        guard !records.isEmpty else { return nil }
        return SourceBatch(records: records, cursor: KafkaSource.cursor(next))
    }

    func acknowledge(through cursor: JSONValue) async throws {
        let offsets = KafkaSource.offsets(in: cursor).filter { committed[$0.key] != $0.value }
        guard !offsets.isEmpty else { return }
        let list = rd_kafka_topic_partition_list_new(Int32(offsets.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for (partition, offset) in offsets {
            rd_kafka_topic_partition_list_add(list, topic, partition).pointee.offset = offset
        }
        let status = rd_kafka_commit(handle, list, 0)
        if status == RD_KAFKA_RESP_ERR_NO_ERROR {
            committed.merge(offsets) { $1 }
        } else {
            // Not fatal: what is loaded is checkpointed, and a consumer that re-reads it skips it
            // (this one, by its cursor) or loads copies that reports count once.
            logger.warning("kafka: could not commit offsets \(offsets) of topic \(topic): \(Kafka.describe(status))")
        }
    }
}
