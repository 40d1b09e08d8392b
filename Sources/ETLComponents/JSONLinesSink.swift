import ETLCore
import Foundation

/// `jsonl` sink: writes rows as JSON lines to `path`, in the three write modes.
///
/// - Replacing runs append to their own staging file, `<path>.run-<key>.staging`, and record every
///   batch in a manifest beside it (`.batches`: sequence, hash, rows, end offset) after the batch's
///   bytes are on disk. On reopen, bytes past the last manifest entry (a torn write) are cut off.
///   Completion is a `rename` of the staging file over `path`: readers see the old file or the new one.
/// - `append` appends each batch to `path` itself, recorded the same way in `<path>.batches` (with
///   the run's key); a torn batch is cut off on reopen.
/// - `merge` rewrites `path` for each batch, through a temporary file and a rename, with the
///   batch's rows replacing the rows of the same key (or, keeping the first, only new keys added);
///   the batch is recorded in `<path>.batches` after the rename. Applying a batch again after a
///   crash changes nothing. Rewriting the file per batch suits small outputs (tests, local runs).
public struct JSONLinesSink: Sink {
    public let path: String

    public static func register(into registry: inout ComponentRegistry) {
        registry.registerSink("jsonl") { config in
            config.string("path", required: true).map { JSONLinesSink(path: $0) }
        }
    }

    public func problems(with mode: WriteMode) -> [String] { [] }

    func stagingPath(runKey: String) -> String { "\(path).run-\(runKey).staging" }

    public func openSession(context: StageContext) async throws -> any SinkSession {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        if context.replacesLive {
            return try JSONLinesStagedSession(livePath: path, stagingPath: stagingPath(runKey: context.runKey), resumesCompletion: context.resumesCompletion)
        }
        return try JSONLinesLiveSession(livePath: path, context: context)
    }

    public func discardRun(context: StageContext) async throws {
        let staging = stagingPath(runKey: context.runKey)
        for file in [staging, staging + ".batches"] { unlink(file) }
    }
}

/// One batch in a manifest: `sequence hash rows end-offset`, with the run's key first in a live
/// file's manifest, which several runs share.
private struct ManifestEntry {
    let runKey: String?
    let sequence: Int
    let batch: StagedBatch
    let endOffset: Int64

    var line: String { (runKey.map { "\($0) " } ?? "") + "\(sequence) \(batch.hash) \(batch.rows) \(endOffset)\n" }

    /// The entries of a manifest; a torn last line (crash mid-append) is ignored. A live file's
    /// manifest starts with `base OFFSET`: the file's size when etl first wrote to it.
    static func read(at path: String, withRunKeys: Bool) -> (base: Int64?, entries: [ManifestEntry])? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        var base: Int64?
        let entries = text.split(separator: "\n").compactMap { line -> ManifestEntry? in
            var parts = line.split(separator: " ").map(String.init)
            if parts.count == 2, parts[0] == "base" { base = Int64(parts[1]); return nil }
            let runKey = withRunKeys && !parts.isEmpty ? parts.removeFirst() : nil
            guard parts.count == 4, let sequence = Int(parts[0]), parts[1].count == 64, let rows = Int(parts[2]), let offset = Int64(parts[3])
            else { return nil }
            return ManifestEntry(runKey: runKey, sequence: sequence, batch: StagedBatch(hash: parts[1], rows: rows), endOffset: offset)
        }
        return (base, entries)
    }
}

/// A replacing run: staging file, manifest, rename on completion.
final class JSONLinesStagedSession: SinkSession {
    private let livePath: String
    private let stagingPath: String
    private var manifestPath: String { stagingPath + ".batches" }
    private var entries: [ManifestEntry] = []

    init(livePath: String, stagingPath: String, resumesCompletion: Bool) throws {
        self.livePath = livePath
        self.stagingPath = stagingPath
        // After the swap the staging file is gone: recreating it would make `complete` swap an
        // empty file over the finished output.
        guard !resumesCompletion else { return }
        entries = ManifestEntry.read(at: manifestPath, withRunKeys: false)?.entries ?? []
        try FileIO.truncate(stagingPath, to: entries.last?.endOffset ?? 0, creating: true)
        try FileIO.replace(manifestPath, with: entries.map(\.line).joined())
    }

    func landedBatches() async throws -> [Int: StagedBatch] {
        Dictionary(entries.map { ($0.sequence, $0.batch) }, uniquingKeysWith: { _, last in last })
    }

    func discardBatches(from sequence: Int) async throws {
        entries.removeAll { $0.sequence >= sequence }
        try FileIO.truncate(stagingPath, to: entries.last?.endOffset ?? 0, creating: false)
        try FileIO.replace(manifestPath, with: entries.map(\.line).joined())
    }

    func load(_ batch: consuming LoadBatch) async throws {
        let start = entries.last?.endOffset ?? 0
        let end = try FileIO.write(JSONLines.encode(batch.rows), to: stagingPath, at: start)
        // The batch counts as landed only once the manifest names it.
        let entry = ManifestEntry(runKey: nil, sequence: batch.sequence, batch: StagedBatch(hash: batch.hash, rows: batch.rows.count), endOffset: end)
        try FileIO.append(entry.line, to: manifestPath)
        entries.append(entry)
    }

    func complete() async throws {
        if access(stagingPath, F_OK) == 0 {
            // A live file's append manifest describes the file being replaced: it goes first, so
            // that a crash leaves no manifest of another file's offsets.
            unlink(livePath + ".batches")
            try FileIO.sync(stagingPath)
            guard rename(stagingPath, livePath) == 0 else { throw FileIO.failure("cannot move staging into place at", livePath) }
            FileIO.syncDirectory(of: livePath)
        }
        unlink(manifestPath)
    }
}

/// An `append` or `merge` run: batches go into the live file, recorded in its manifest.
final class JSONLinesLiveSession: SinkSession {
    private let livePath: String
    private let runKey: String
    private let mode: WriteMode
    private var manifestPath: String { livePath + ".batches" }
    private var base: Int64 = 0
    private var entries: [ManifestEntry] = []

    init(livePath: String, context: StageContext) throws {
        self.livePath = livePath
        runKey = context.runKey
        mode = context.mode
        if let manifest = ManifestEntry.read(at: manifestPath, withRunKeys: true) {
            base = manifest.base ?? 0
            entries = manifest.entries
        } else {
            // The first batch etl writes here: what the file holds already stays.
            base = FileIO.size(of: livePath) ?? 0
            try FileIO.replace(manifestPath, with: "base \(base)\n")
        }
        if case .append = mode {
            // Bytes past the last recorded batch are a batch torn by a crash.
            try FileIO.truncate(livePath, to: entries.last?.endOffset ?? base, creating: true)
        }
    }

    func landedBatches() async throws -> [Int: StagedBatch] {
        Dictionary(entries.filter { $0.runKey == runKey }.map { ($0.sequence, $0.batch) }, uniquingKeysWith: { _, last in last })
    }

    /// In `append`, this run's batches are the end of the file and are cut off. In `merge` their
    /// rows have been merged and stay; only their records go (the batches are then merged again).
    func discardBatches(from sequence: Int) async throws {
        entries.removeAll { $0.runKey == runKey && $0.sequence >= sequence }
        if case .append = mode { try FileIO.truncate(livePath, to: entries.last?.endOffset ?? base, creating: false) }
        try FileIO.replace(manifestPath, with: "base \(base)\n" + entries.map(\.line).joined())
    }

    func load(_ batch: consuming LoadBatch) async throws {
        let sequence = batch.sequence, staged = StagedBatch(hash: batch.hash, rows: batch.rows.count)
        let end: Int64
        if case .merge(let key, let keep) = mode {
            end = try merge(batch.rows, key: key, keep: keep)
        } else {
            end = try FileIO.write(JSONLines.encode(batch.rows), to: livePath, at: entries.last?.endOffset ?? base)
        }
        let entry = ManifestEntry(runKey: runKey, sequence: sequence, batch: staged, endOffset: end)
        try FileIO.append(entry.line, to: manifestPath)
        entries.append(entry)
    }

    /// The live rows with the batch's merged in, written whole through a rename. Returns the size.
    private func merge(_ rows: Rows, key: [String], keep: MergeKeep) throws -> Int64 {
        var merged = try JSONLines.read(livePath)
        var index: [[UInt8]: Int] = [:]
        var row = 0
        try Rows.values(merged).forEachRow(columns: key) { cells in
            index[cells.keyBytes()] = row
            row += 1
        }
        let incoming = rows.values
        var position = 0
        try rows.forEachRow(columns: key) { cells in
            defer { position += 1 }
            let rowKey = cells.keyBytes()
            if let existing = index[rowKey] {
                if keep == .last { merged[existing] = incoming[position] }
            } else {
                index[rowKey] = merged.count
                merged.append(incoming[position])
            }
        }
        let bytes = JSONLines.encode(.values(merged))
        let temporary = livePath + ".merging"
        _ = try FileIO.write(bytes, to: temporary, at: 0, truncating: true)
        guard rename(temporary, livePath) == 0 else { throw FileIO.failure("cannot move the merged file into place at", livePath) }
        FileIO.syncDirectory(of: livePath)
        return Int64(bytes.count)
    }

    func complete() async throws {}
}

/// Rows as JSON lines, and back.
enum JSONLines {
    static func encode(_ rows: Rows) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(rows.count * 128)
        for row in rows.values {
            JSONWriter.write(row, into: &bytes)
            bytes.append(0x0A)
        }
        return bytes
    }

    static func read(_ path: String) throws -> [JSONValue] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return try data.split(separator: 0x0A).map { line in
            do {
                return try JSONParser.parse(Array(line))
            } catch {
                throw ETLError(.stageFailed, "jsonl sink: \(path) holds a line that is not JSON (\(error)); it was changed outside etl: restore it, or start over with --full-refresh")
            }
        }
    }
}

/// Durable file writes for the jsonl sink: every write is synced before it counts.
enum FileIO {
    static func size(of path: String) -> Int64? {
        var status = stat()
        return stat(path, &status) == 0 ? Int64(status.st_size) : nil
    }

    static func truncate(_ path: String, to size: Int64, creating: Bool) throws {
        let descriptor = try open(path, creating ? O_RDWR | O_CREAT : O_RDWR)
        defer { close(descriptor) }
        guard ftruncate(descriptor, off_t(size)) == 0, fsync(descriptor) == 0 else { throw failure("cannot truncate", path) }
    }

    /// Writes `bytes` at `offset` and syncs; returns the offset after them.
    static func write(_ bytes: [UInt8], to path: String, at offset: Int64, truncating: Bool = false) throws -> Int64 {
        let descriptor = try open(path, O_WRONLY | O_CREAT | (truncating ? O_TRUNC : 0))
        defer { close(descriptor) }
        guard lseek(descriptor, off_t(offset), SEEK_SET) >= 0 else { throw failure("cannot seek in", path) }
        try writeAll(bytes, to: descriptor, path: path)
        guard fsync(descriptor) == 0 else { throw failure("cannot sync", path) }
        return offset + Int64(bytes.count)
    }

    static func append(_ text: String, to path: String) throws {
        let descriptor = try open(path, O_WRONLY | O_APPEND | O_CREAT)
        defer { close(descriptor) }
        try writeAll(Array(text.utf8), to: descriptor, path: path)
        guard fsync(descriptor) == 0 else { throw failure("cannot sync", path) }
    }

    /// Rewrites a small file through a temporary file and a rename, so it is never torn.
    static func replace(_ path: String, with text: String) throws {
        let temporary = path + ".tmp"
        _ = try write(Array(text.utf8), to: temporary, at: 0, truncating: true)
        guard rename(temporary, path) == 0 else { throw failure("cannot write", path) }
    }

    static func sync(_ path: String) throws {
        let descriptor = try open(path, O_RDONLY)
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw failure("cannot sync", path) }
    }

    /// Makes a rename durable.
    static func syncDirectory(of path: String) {
        let directory = (path as NSString).deletingLastPathComponent
        let descriptor = Foundation.open(directory.isEmpty ? "." : directory, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        fsync(descriptor)
        close(descriptor)
    }

    private static func open(_ path: String, _ flags: Int32) throws -> Int32 {
        let descriptor = Foundation.open(path, flags | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw failure("cannot open", path) }
        return descriptor
    }

    private static func writeAll(_ bytes: [UInt8], to descriptor: Int32, path: String) throws {
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress! + written, $0.count - written) }
            if result < 0, errno == EINTR { continue }
            guard result > 0 else { throw failure("cannot write", path) }
            written += result
        }
    }

    static func failure(_ what: String, _ path: String) -> ETLError {
        ETLError(.stageFailed, "jsonl sink: \(what) \(path): \(String(cString: strerror(errno))); check the disk and permissions, then resume")
    }
}
