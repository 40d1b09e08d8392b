import ETLCore
import Foundation

/// `s3` and `files` sinks: one object per row, at `prefix` + the row's `key` field, holding the
/// row's `content` field as JSON (rows whose content is null, like failed files, write nothing).
///
/// Each object is written whole (an S3 PUT; a folder's temporary file renamed into place), so a
/// reader never sees a part of one. An object's name comes from its input, so writing a batch
/// again writes the same objects: the sink keeps no batch records (`landedBatches` is empty) and
/// reconciles instead. The first batch a session loads is the only one that can have been loaded
/// before, by a process that crashed before its checkpoint; its objects that already hold their
/// content (the digest recorded with each object) are not written again.
struct ObjectSink: Sink {
    let store: any ObjectStore
    let prefix: String
    let keyField: String
    let contentField: String

    var fieldsRead: FieldSelection { .keys([keyField: .everything, contentField: .everything]) }

    func problems(with mode: WriteMode) -> [String] {
        mode == .append ? [] : ["each row is written as its own object: set \"mode\" to \"append\""]
    }

    func openSession(context: StageContext) async throws -> any SinkSession {
        ObjectSinkSession(sink: self)
    }

    func discardRun(context: StageContext) async throws {}
}

final class ObjectSinkSession: SinkSession {
    let sink: ObjectSink
    private var reconciles = true

    init(sink: ObjectSink) {
        self.sink = sink
    }

    func landedBatches() async throws -> [Int: StagedBatch] { [:] }

    /// Nothing to remove: a later run writes the same objects for the same inputs.
    func discardBatches(from sequence: Int) async throws {}

    func load(_ batch: consuming LoadBatch) async throws {
        var objects: [(key: String, body: [UInt8])] = []
        for row in batch.rows.values {
            guard case .object(let fields) = row, let content = fields[sink.contentField], content != .null else { continue }
            guard case .string(let key)? = fields[sink.keyField], !key.isEmpty else {
                throw ETLError(.stageFailed, "a row has no string \"\(sink.keyField)\" to name its object (load.key)")
            }
            var body: [UInt8] = []
            JSONWriter.write(content, into: &body)
            objects.append((sink.prefix + key, body))
        }
        let store = sink.store, reconciling = reconciles
        reconciles = false
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            func startNext() {
                guard next < objects.count else { return }
                let (key, body) = objects[next]
                next += 1
                group.addTask {
                    let digest = SHA256.hex(body)
                    if reconciling, try await store.contentDigest(of: key) == digest { return }
                    try await store.put(key, body: body, digest: digest, contentType: "application/json")
                }
            }
            for _ in 0..<min(8, objects.count) { startNext() }
            while try await group.next() != nil { startNext() }
        }
    }

    func complete() async throws {}
}
