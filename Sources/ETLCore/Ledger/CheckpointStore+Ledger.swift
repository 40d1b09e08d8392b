import Foundation
import GRDB

/// The ledger of handled items and the announcements waiting for a run (see `LedgerSpec`).
/// Entries are written only by `commitBatch`, with the batch that handled them.
extension CheckpointStore {
    public func ledgerEntry(pipeline: String, item: String) throws(ETLError) -> LedgerEntry? {
        try read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM ledger WHERE pipeline = ? AND item = ?", arguments: [pipeline, item]).map(Self.ledgerEntry)
        }
    }

    /// Records announced items durably; one already handled in the version announced is left out.
    /// An item announced again replaces its earlier announcement. Returns how many were recorded.
    @discardableResult
    public func announce(pipeline: String, _ announcements: [Announcement]) throws(ETLError) -> Int {
        try write("record announced items") { db in
            var recorded = 0
            let now = Date()
            for announcement in announcements {
                try db.execute(sql: """
                    INSERT OR REPLACE INTO announcements (pipeline, item, version, announced_at)
                    SELECT ?, ?, ?, ? WHERE NOT EXISTS (
                        SELECT 1 FROM ledger WHERE pipeline = ? AND item = ? AND version = ? AND ? != '')
                    """, arguments: [pipeline, announcement.item, announcement.version, now,
                                     pipeline, announcement.item, announcement.version, announcement.version])
                recorded += db.changesCount
            }
            return recorded
        }
    }

    func pendingAnnouncements(pipeline: String, limit: Int) throws(ETLError) -> [Announcement] {
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT item, version FROM announcements WHERE pipeline = ? ORDER BY announced_at, item LIMIT ?
                """, arguments: [pipeline, limit]).map { Announcement(item: $0["item"], version: $0["version"]) }
        }
    }

    func dismissAnnouncement(pipeline: String, _ announcement: Announcement) throws(ETLError) {
        try write("dismiss an announcement") { db in
            try db.execute(sql: "DELETE FROM announcements WHERE pipeline = ? AND item = ? AND version = ?",
                           arguments: [pipeline, announcement.item, announcement.version])
        }
    }

    public func ledgerSummary(pipeline: String, failures limit: Int = 10) throws(ETLError) -> LedgerSummary {
        try read { db in
            let counts = try Row.fetchOne(db, sql: """
                SELECT COALESCE(SUM(outcome = 'done'), 0) AS done, COALESCE(SUM(outcome = 'failed'), 0) AS failed FROM ledger WHERE pipeline = ?
                """, arguments: [pipeline])
            let pending = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM announcements WHERE pipeline = ?", arguments: [pipeline]) ?? 0
            let failures = try Row.fetchAll(db, sql: """
                SELECT * FROM ledger WHERE pipeline = ? AND outcome = 'failed' ORDER BY handled_at DESC, item LIMIT ?
                """, arguments: [pipeline, limit]).map(Self.ledgerEntry)
            return LedgerSummary(done: counts?["done"] ?? 0, failed: counts?["failed"] ?? 0, pending: pending, failures: failures)
        }
    }

    /// `etl retry`: forgets the failures of the items named `file`, or ending in `/file`, and
    /// announces them, so that the next run handles them again. Returns the items forgotten.
    public func retryFailed(pipeline: String, file: String) throws(ETLError) -> [String] {
        try write("forget failed items") { db in
            let items = try String.fetchAll(db, sql: """
                SELECT item FROM ledger WHERE pipeline = ? AND outcome = 'failed' AND (item = ? OR substr(item, -length(?)) = ?)
                ORDER BY item
                """, arguments: [pipeline, file, "/" + file, "/" + file])
            let now = Date()
            for item in items {
                try db.execute(sql: "DELETE FROM ledger WHERE pipeline = ? AND item = ?", arguments: [pipeline, item])
                try db.execute(sql: "INSERT OR REPLACE INTO announcements (pipeline, item, version, announced_at) VALUES (?, ?, '', ?)",
                               arguments: [pipeline, item, now])
            }
            return items
        }
    }

    private static func ledgerEntry(_ row: Row) -> LedgerEntry {
        LedgerEntry(item: row["item"], version: row["version"], outcome: LedgerEntry.Outcome(rawValue: row["outcome"]) ?? .failed,
                    reason: row["reason"], output: row["output"])
    }
}
