import ETLCore
import Foundation
import Logging

/// A pipeline's versioned SQL migrations (`migrations/<pipeline>/0001_*.sql`), applied in order
/// after the sink has created its tables and before the first batch, and recorded with their
/// checksums in `etl_migrations` of the load's database.
///
/// ClickHouse has no transactional DDL: a migration's statements run one by one and the record is
/// written after the last, so a crash in between applies the migration again on the next run.
/// Migrations must therefore be idempotent (`CREATE … IF NOT EXISTS`, `DROP … IF EXISTS`). Two
/// processes migrating at once may both record a version; records are read distinct.
struct ClickHouseMigrations: Sendable {
    static let recordTable = "etl_migrations"

    struct Migration: Sendable {
        let version: UInt32
        /// The file name, `0001_description.sql`.
        let name: String
        /// SHA-256 of the file's bytes, in hex.
        let checksum: String
        /// With `{table}` and `{database}` filled in.
        let statements: [String]
    }

    let directory: String
    /// By version.
    let migrations: [Migration]

    /// Every problem of a migrations folder, one message each.
    struct Problems: Error {
        let messages: [String]
    }

    /// Reads every migration in `directory`: each file must be named `NNNN_description.sql` (4 or
    /// more digits, a number no other file has), and its statements must split and fill.
    static func read(directory: String, table: String, database: String) throws(Problems) -> ClickHouseMigrations {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        } catch {
            throw Problems(messages: ["cannot read the migrations folder \(directory): no such folder, or not readable"])
        }
        var migrations: [UInt32: Migration] = [:]
        var problems: [String] = []
        for name in names {
            let path = URL(fileURLWithPath: directory).appendingPathComponent(name).path
            guard let version = version(ofFileName: name) else {
                problems.append("\(name) in \(directory) is not a migration: name each file NNNN_description.sql (4 or more digits, then letters, digits, _ or -), and keep nothing else in the folder")
                continue
            }
            if let other = migrations[version] {
                problems.append("\(other.name) and \(name) in \(directory) have the same number \(version): give each migration its own")
                continue
            }
            guard let data = FileManager.default.contents(atPath: path) else {
                problems.append("cannot read the migration \(path) (a folder, or not readable)")
                continue
            }
            let bytes = Array(data)
            guard let text = String(validating: bytes, as: UTF8.self) else {
                problems.append("the migration \(path) is not UTF-8 text")
                continue
            }
            do {
                let statements = try MigrationScript.statements(in: text).map { statement throws(SQLTemplate.UnknownPlaceholder) in
                    try SQLTemplate.fill(statement, with: ["table": ClickHouseSQL.identifier(table), "database": ClickHouseSQL.identifier(database)])
                }
                migrations[version] = Migration(version: version, name: name, checksum: SHA256.hex(bytes), statements: statements)
            } catch {
                problems.append("the migration \(path): \(error)")
            }
        }
        guard problems.isEmpty else { throw Problems(messages: problems) }
        return ClickHouseMigrations(directory: directory, migrations: migrations.values.sorted { $0.version < $1.version })
    }

    /// `0001_first_received.sql` is version 1.
    static func version(ofFileName name: String) -> UInt32? {
        guard name.hasSuffix(".sql") else { return nil }
        let stem = name.dropLast(".sql".count)
        let digits = stem.prefix { $0.isASCII && $0.isNumber }
        let description = stem.dropFirst(digits.count)
        guard digits.count >= 4, description.count > 1, description.first == "_",
              description.dropFirst().allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) else { return nil }
        return UInt32(digits)
    }

    /// Checks the applied migrations against the files, then applies the others in order. Nothing
    /// is applied when an applied migration was edited, renamed or removed, or when a new one is
    /// numbered below one already applied. A statement that fails is named by file and number.
    /// Returns every migration's name, and whether this call applied it (else it was before).
    func apply(client: ClickHouseClient, pipeline: String, logger: Logger) async throws -> [(name: String, isNew: Bool)] {
        let records = ClickHouseSQL.identifier(Self.recordTable)
        try await client.execute("""
            CREATE TABLE IF NOT EXISTS \(records) \
            (pipeline String, version UInt32, name String, checksum String, applied_at DateTime) \
            ENGINE = MergeTree ORDER BY (pipeline, version)
            """)
        let applied = try await client.rows("SELECT DISTINCT version, name, checksum FROM \(records) WHERE pipeline = \(ClickHouseSQL.literal(pipeline)) ORDER BY version, name, checksum")
            .compactMap { row in row.count == 3 ? UInt32(row[0]).map { (version: $0, name: row[1], checksum: row[2]) } : nil }
        let byVersion = Dictionary(uniqueKeysWithValues: migrations.map { ($0.version, $0) })
        // The number a new migration would take, for the messages.
        let next = String(format: "%04d", max(migrations.last?.version ?? 0, applied.last?.version ?? 0) + 1)
        let ofPipeline = "of pipeline \(pipeline)"
        for record in applied {
            guard let migration = byVersion[record.version] else {
                throw ETLError(.stageFailed, "migration \(record.name) \(ofPipeline) was applied (checksum \(Self.short(record.checksum))) but is no longer in \(directory): an applied migration must not be removed; restore it, and undo what it did with a new migration (\(next)_…) instead")
            }
            guard migration.name == record.name else {
                throw ETLError(.stageFailed, "migration \(record.name) \(ofPipeline) was applied, but \(directory) now has \(migration.name) with its number: an applied migration must not be renamed; restore its name, and add a new migration (\(next)_…) for anything new")
            }
            guard migration.checksum == record.checksum else {
                throw ETLError(.stageFailed, "migration \(record.name) \(ofPipeline) was applied with checksum \(Self.short(record.checksum)) but the file now has \(Self.short(migration.checksum)): an applied migration must not change; restore it and add a new migration (\(next)_…) instead")
            }
        }
        let appliedVersions = Set(applied.map(\.version))
        let pending = migrations.filter { !appliedVersions.contains($0.version) }
        if let latest = applied.last, let early = pending.first(where: { $0.version < latest.version }) {
            throw ETLError(.stageFailed, "migration \(early.name) \(ofPipeline) is numbered below \(latest.name), which is already applied: migrations apply in order; renumber it after the last one (\(next)_…)")
        }
        for migration in pending {
            for (index, statement) in migration.statements.enumerated() {
                do {
                    try await client.execute(statement)
                } catch {
                    guard !error.isTransient else { throw error }
                    throw ETLError(.stageFailed, "migration \(migration.name) \(ofPipeline): statement \(index + 1) of \(migration.statements.count) failed: \(error.message); the statements before it were applied (a migration must be safe to run again), fix this one and run again")
                }
            }
            try await client.execute("""
                INSERT INTO \(records) (pipeline, version, name, checksum, applied_at) \
                VALUES (\(ClickHouseSQL.literal(pipeline)), \(migration.version), \(ClickHouseSQL.literal(migration.name)), \(ClickHouseSQL.literal(migration.checksum)), now())
                """)
            let count = migration.statements.count
            logger.info("applied migration \(migration.name) (\(count) statement\(count == 1 ? "" : "s"))")
        }
        let pendingVersions = Set(pending.map(\.version))
        return migrations.map { ($0.name, pendingVersions.contains($0.version)) }
    }

    /// The first 12 hex digits of a checksum, enough to tell two apart in a message.
    private static func short(_ checksum: String) -> String { String(checksum.prefix(12)) + "…" }
}

/// Splits a migration into statements at each `;` that is not inside a quoted string
/// (`'…'`, `"…"`, `` `…` ``, with backslash escapes and doubled quotes) or a comment (`-- …`,
/// `/* … */`). Statements with nothing but comments and whitespace are dropped.
enum MigrationScript {
    struct Problem: Error, CustomStringConvertible {
        let description: String
    }

    static func statements(in text: String) throws(Problem) -> [String] {
        var statements: [String] = []
        var current: [UInt8] = []
        /// Whether `current` holds anything but whitespace and comments.
        var hasCode = false
        let bytes = Array(text.utf8)
        var index = 0
        func line(at offset: Int) -> Int { bytes[..<offset].count(where: { $0 == UInt8(ascii: "\n") }) + 1 }
        func finishStatement() {
            if hasCode {
                statements.append(String(decoding: current, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
            }
            current = []
            hasCode = false
        }
        while index < bytes.count {
            let byte = bytes[index]
            let following = index + 1 < bytes.count ? bytes[index + 1] : nil
            switch byte {
            case UInt8(ascii: ";"):
                finishStatement()
                index += 1
            case UInt8(ascii: "'"), UInt8(ascii: "\""), UInt8(ascii: "`"):
                let start = index
                index += 1
                var closed = false
                while index < bytes.count {
                    if bytes[index] == UInt8(ascii: "\\") {
                        index += 2
                    } else if bytes[index] == byte {
                        // A doubled quote is one quote character inside the string.
                        if index + 1 < bytes.count, bytes[index + 1] == byte {
                            index += 2
                        } else {
                            index += 1
                            closed = true
                            break
                        }
                    } else {
                        index += 1
                    }
                }
                guard closed else { throw Problem(description: "the quote \(Character(Unicode.Scalar(byte))) at line \(line(at: start)) is not closed") }
                current += bytes[start..<index]
                hasCode = true
            case UInt8(ascii: "-") where following == UInt8(ascii: "-"):
                let end = bytes[index...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
                current += bytes[index..<end]
                index = end
            case UInt8(ascii: "/") where following == UInt8(ascii: "*"):
                guard let close = Self.find([UInt8(ascii: "*"), UInt8(ascii: "/")], in: bytes, from: index + 2) else {
                    throw Problem(description: "the comment /* at line \(line(at: index)) is not closed with */")
                }
                current += bytes[index..<close + 2]
                index = close + 2
            default:
                current.append(byte)
                if !(byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r")) { hasCode = true }
                index += 1
            }
        }
        finishStatement()
        return statements
    }

    private static func find(_ needle: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
        guard start + needle.count <= bytes.count else { return nil }
        return (start...(bytes.count - needle.count)).first { bytes[$0..<$0 + needle.count].elementsEqual(needle) }
    }
}
