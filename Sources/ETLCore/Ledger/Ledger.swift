/// What the ledger holds of one handled item (a file): the version it handled (an ETag), how it
/// ended, and the output it made.
public struct LedgerEntry: Sendable, Equatable {
    public enum Outcome: String, Sendable {
        case done, failed
    }

    public let item: String
    public let version: String
    public let outcome: Outcome
    /// Why it failed; nil when done.
    public let reason: String?
    /// Where its output went, when it made one.
    public let output: String?

    public init(item: String, version: String, outcome: Outcome, reason: String? = nil, output: String? = nil) {
        self.item = item
        self.version = version
        self.outcome = outcome
        self.reason = reason
        self.output = output
    }
}

/// An item that a notification announced and no run has handled yet, in the version it named
/// (empty when it named none: whichever version the source finds).
public struct Announcement: Sendable, Equatable {
    public let item: String
    public let version: String

    public init(item: String, version: String) {
        self.item = item
        self.version = version
    }
}

/// A pipeline's `ledger`: which fields of its transformed rows name the item each row came from,
/// its version, the output made of it and the error that failed it. Each batch's entries are
/// written with the batch's checkpoint, in one transaction, so an item is in the ledger exactly
/// when its batch is loaded.
///
///     "ledger": {"item": "file", "version": "etag", "output": "output", "error": "error"}
public struct LedgerSpec: Sendable {
    public let item: String
    public let version: String?
    public let output: String?
    public let error: String?

    static func read(_ config: inout ConfigReader) -> LedgerSpec? {
        let item = config.string("item", required: true)
        let version = config.string("version")
        let output = config.string("output")
        let error = config.string("error")
        guard let item else { return nil }
        return LedgerSpec(item: item, version: version, output: output, error: error)
    }

    /// What the ledger reads of each row.
    var fieldsRead: FieldSelection {
        .keys(Dictionary(uniqueKeysWithValues: [item, version, output, error].compactMap { $0 }.map { ($0, FieldSelection.everything) }))
    }

    /// One entry per row that names an item: failed when its error field holds a string.
    public func entries(in rows: Rows) -> [LedgerEntry] {
        rows.values.compactMap { row in
            guard case .object(let fields) = row, case .string(let name)? = fields[item] else { return nil }
            func text(_ key: String?) -> String? {
                guard let key, case .string(let value)? = fields[key] else { return nil }
                return value
            }
            let reason = text(error)
            return LedgerEntry(item: name, version: text(version) ?? "", outcome: reason == nil ? .done : .failed, reason: reason, output: text(output))
        }
    }
}

/// A source of items that each run handles once (files): it skips every item the ledger holds
/// in the version it finds, so that an item is handled again only when it changes or when
/// `etl retry` forgets its failure. Its pipeline must declare a `ledger`.
public protocol LedgeredSource: Source {}

/// A ledgered source that can also be told of new items (S3 event notifications): `etl serve`
/// takes the notifications at `notificationPath`, records the items they announce in the
/// checkpoint store, and the source handles those without waiting for its next listing.
public protocol NotifiedSource: LedgeredSource {
    /// Where `etl serve` takes notifications (PUT and POST); nil when the source takes none.
    var notificationPath: String? { get }
    /// The items a notification body announces, and why the others were left out (another
    /// bucket, a test event…); throws for a body that is not a notification.
    func announcements(in notification: JSONValue) throws(NotificationInvalid) -> (announced: [Announcement], ignored: [String])
}

/// A notification body that is not one: the field and what is wrong with it (a 400).
public struct NotificationInvalid: Error, Sendable, CustomStringConvertible {
    public let field: String
    public let message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}

/// The ledger of one pipeline as its source sees it: read-only, but for notifications it has
/// found stale (the item was handled since).
public struct LedgerView: Sendable {
    let store: CheckpointStore
    public let pipeline: String

    public init(store: CheckpointStore, pipeline: String) {
        self.store = store
        self.pipeline = pipeline
    }

    /// The entry of `item`, if a run handled it.
    public func entry(for item: String) throws(ETLError) -> LedgerEntry? {
        try store.ledgerEntry(pipeline: pipeline, item: item)
    }

    /// Up to `limit` announced items not handled in the version announced, oldest first.
    public func pending(limit: Int) throws(ETLError) -> [Announcement] {
        try store.pendingAnnouncements(pipeline: pipeline, limit: limit)
    }

    /// Forgets an announcement whose item turned out to be handled already in the version found.
    public func dismiss(_ announcement: Announcement) throws(ETLError) {
        try store.dismissAnnouncement(pipeline: pipeline, announcement)
    }
}

/// Counts of a pipeline's ledger, for `etl status`, `/status` and the page.
public struct LedgerSummary: Sendable, Equatable {
    public let done: Int
    public let failed: Int
    /// Announced and not yet handled.
    public let pending: Int
    /// The latest failures, newest first.
    public let failures: [LedgerEntry]
}

extension LedgerSummary {
    /// `12 done, 2 failed, 1 pending`.
    public var counts: String { "\(done) done, \(failed) failed, \(pending) pending" }

    public var json: JSONValue {
        .object(JSONObject([
            ("done", .int(Int64(done))), ("failed", .int(Int64(failed))), ("pending", .int(Int64(pending))),
            ("failures", .array(failures.map { entry in
                .object(JSONObject([("file", .string(entry.item)), ("reason", entry.reason.map(JSONValue.string) ?? .null)]))
            })),
        ]))
    }
}
