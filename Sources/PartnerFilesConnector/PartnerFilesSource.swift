import ETLCore
import Foundation
import Logging

/// `s3` and `files` sources: the objects under `prefix` whose key ends in `suffix`, each handled
/// once. A record per object: `{"file": ledger item, "etag", "name": key after the prefix,
/// "body": the text, or null when it is not UTF-8}`.
///
/// Which objects: those that notifications announced (`etl serve`, `NotifiedSource`), then, when
/// `poll` is on, a listing of the prefix in key order; each skipped when the ledger holds it in
/// the version found. A run that does not follow lists once; a following run lists again every
/// `pollInterval`, and looks for announcements far more often. Objects of a batch not yet
/// checkpointed are not read again by a later listing. With `deleteProcessed`, an object is
/// deleted once its batch is checkpointed (and on a later listing, if a crash came in between).
struct PartnerFilesSource: NotifiedSource {
    let store: any ObjectStore
    let prefix: String
    let suffix: String
    let poll: Bool
    let listEvery: Duration
    let filesPerBatch: Int
    let deleteProcessed: Bool
    /// The bucket notifications must name; nil for a folder, which takes none.
    let notificationBucket: String?
    let notificationPath: String?

    var isContinuous: Bool { true }
    /// How often a following run looks for announcements; listings wait for `listEvery`.
    var pollInterval: Duration { .milliseconds(200) }

    func openReader(after cursor: JSONValue?, fields: FieldSelection, context: StageContext) async throws -> any SourceReader {
        guard let ledger = context.ledger else {
            throw ETLError(.invalidPipeline, "the pipeline \(context.pipeline) declares no \"ledger\", which this source needs")
        }
        return PartnerFilesReader(source: self, ledger: ledger, following: context.following, logger: context.logger)
    }

    func announcements(in notification: JSONValue) throws(NotificationInvalid) -> (announced: [Announcement], ignored: [String]) {
        guard let bucket = notificationBucket else { return ([], ["a folder takes no notifications"]) }
        let read = try S3EventNotification(notification, bucket: bucket, prefix: prefix)
        var ignored = read.ignored.map { ignored in ignored.index.map { "record \($0): \(ignored.reason)" } ?? ignored.reason }
        var announced: [Announcement] = []
        for object in read.announced {
            if object.key.hasSuffix(suffix) {
                announced.append(Announcement(item: store.item(forKey: object.key), version: object.eTag.map(S3Client.unquoted) ?? ""))
            } else {
                ignored.append("\(object.key): the key does not end in \(suffix)")
            }
        }
        return (announced, ignored)
    }
}

/// One pass of a listing, read a page at a time so that memory does not grow with the bucket.
private struct Listing {
    var page: ArraySlice<S3Object> = []
    var continuation: String?
    var isLastPage = false
}

final class PartnerFilesReader: SourceReader {
    let source: PartnerFilesSource
    let ledger: LedgerView
    let following: Bool
    let logger: Logger
    private var listing: Listing?
    private var lastListing: ContinuousClock.Instant?
    /// Items of batches handed over and not yet checkpointed, with the version read.
    private var inFlight: [String: String] = [:]
    private var unacknowledged: [(batch: Int, items: [(item: String, version: String)])] = []
    private var batchNumber = 0

    init(source: PartnerFilesSource, ledger: LedgerView, following: Bool, logger: Logger) {
        self.source = source
        self.ledger = ledger
        self.following = following
        self.logger = logger
    }

    var expectedTotal: Int? { nil }

    /// An object to read, and the announcement that named it, if one did.
    private struct Candidate {
        let key: String
        let announcement: Announcement?
    }

    func next() async throws -> SourceBatch? {
        while true {
            let candidates = try await nextCandidates()
            guard !candidates.isEmpty else { return nil }
            let read = try await readAll(candidates)
            var records: [JSONValue] = []
            var items: [(item: String, version: String)] = []
            for (candidate, object) in zip(candidates, read) {
                let item = source.store.item(forKey: candidate.key)
                guard let object else {
                    logger.warning("\(item) is gone: it was announced or listed, then deleted before it could be read")
                    if let announcement = candidate.announcement { try ledger.dismiss(announcement) }
                    continue
                }
                if let entry = try ledger.entry(for: item), entry.version == object.eTag {
                    if let announcement = candidate.announcement { try ledger.dismiss(announcement) }
                    continue
                }
                guard inFlight[item] != object.eTag, !items.contains(where: { $0.item == item }) else { continue }
                inFlight[item] = object.eTag
                items.append((item, object.eTag))
                let name = String(candidate.key.dropFirst(source.prefix.count))
                records.append(.object(JSONObject([
                    ("file", .string(item)), ("etag", .string(object.eTag)), ("name", .string(name)),
                    ("body", String(validating: object.body, as: UTF8.self).map(JSONValue.string) ?? .null),
                ])))
            }
            guard !records.isEmpty else { continue }
            batchNumber += 1
            unacknowledged.append((batchNumber, items))
            return SourceBatch(records: records, cursor: .object(JSONObject([("batch", .int(Int64(batchNumber))), ("last", .string(items.last!.item))])))
        }
    }

    /// Up to a batch of objects that may need handling: announced ones first, then the listing.
    private func nextCandidates() async throws -> [Candidate] {
        var candidates: [Candidate] = []
        var keys: Set<String> = []
        for announcement in try ledger.pending(limit: inFlight.count + source.filesPerBatch) where inFlight[announcement.item] == nil {
            guard candidates.count < source.filesPerBatch else { break }
            guard let key = source.store.key(forItem: announcement.item), keys.insert(key).inserted else { continue }
            candidates.append(Candidate(key: key, announcement: announcement))
        }
        while candidates.count < source.filesPerBatch, source.poll {
            if listing == nil {
                let now = ContinuousClock.now
                guard lastListing.map({ following && now - $0 >= source.listEvery }) ?? true else { break }
                listing = Listing()
                lastListing = now
            }
            if let object = listing!.page.popFirst() {
                let item = source.store.item(forKey: object.key)
                if inFlight[item] == object.eTag || keys.contains(object.key) { continue }
                if let entry = try ledger.entry(for: item), entry.version == object.eTag {
                    if source.deleteProcessed, entry.outcome == .done { try await source.store.delete(object.key) }
                    continue
                }
                keys.insert(object.key)
                candidates.append(Candidate(key: object.key, announcement: nil))
            } else if listing!.isLastPage {
                listing = nil
                break
            } else {
                let page = try await source.store.listObjects(prefix: source.prefix, continuation: listing!.continuation)
                listing!.page = ArraySlice(page.objects.filter { $0.key.hasSuffix(source.suffix) })
                listing!.continuation = page.next
                listing!.isLastPage = page.next == nil
            }
        }
        return candidates
    }

    /// The candidates' objects, read a few at a time (S3 answers each GET in a round trip).
    private func readAll(_ candidates: [Candidate]) async throws -> [(body: [UInt8], eTag: String)?] {
        let store = source.store
        return try await withThrowingTaskGroup(of: (Int, (body: [UInt8], eTag: String)?).self) { group in
            var results = [(body: [UInt8], eTag: String)?](repeating: nil, count: candidates.count)
            var started = 0
            func startNext() {
                guard started < candidates.count else { return }
                let index = started, key = candidates[index].key
                group.addTask { (index, try await store.get(key)) }
                started += 1
            }
            for _ in 0..<min(8, candidates.count) { startNext() }
            while let (index, object) = try await group.next() {
                results[index] = object
                startNext()
            }
            return results
        }
    }

    func acknowledge(through cursor: JSONValue) async throws {
        guard case .object(let fields) = cursor, case .int(let through)? = fields["batch"] else { return }
        while let first = unacknowledged.first, first.batch <= through {
            unacknowledged.removeFirst()
            for (item, version) in first.items {
                inFlight[item] = nil
                guard source.deleteProcessed, let key = source.store.key(forItem: item),
                      let entry = try ledger.entry(for: item), entry.outcome == .done, entry.version == version else { continue }
                try await source.store.delete(key)
            }
        }
    }
}
