import ETLCore
import Foundation

/// `jsonl` sink: writes rows as JSON lines to `path`, which changes only when a run completes.
///
/// Each run appends to its own staging file, `<path>.run-<key>.staging`, and records every batch in
/// a manifest beside it (`.batches`: sequence, hash, rows, end offset) after the batch's bytes are on
/// disk. On reopen, bytes past the last manifest entry (a torn write) are cut off. Completion is a
/// `rename` of the staging file over `path`: readers see the old file or the new one.
public struct JSONLinesSink: Sink {
    public let path: String

    public static func register(into registry: inout ComponentRegistry) {
        registry.registerSink("jsonl") { config in
            config.string("path", required: true).map { JSONLinesSink(path: $0) }
        }
    }

    func stagingPath(runKey: String) -> String { "\(path).run-\(runKey).staging" }

    public func openSession(context: StageContext) async throws -> any SinkSession {
        try JSONLinesSinkSession(livePath: path, stagingPath: stagingPath(runKey: context.runKey), resumesCompletion: context.resumesCompletion)
    }

    public func discardRun(context: StageContext) async throws {
        let staging = stagingPath(runKey: context.runKey)
        for file in [staging, staging + ".batches"] { unlink(file) }
    }
}

final class JSONLinesSinkSession: SinkSession {
    private struct Entry {
        let sequence: Int
        let batch: StagedBatch
        let endOffset: Int64

        var line: String { "\(sequence) \(batch.hash) \(batch.rows) \(endOffset)\n" }
    }

    private let livePath: String
    private let stagingPath: String
    private var manifestPath: String { stagingPath + ".batches" }
    private var entries: [Entry] = []

    init(livePath: String, stagingPath: String, resumesCompletion: Bool) throws {
        self.livePath = livePath
        self.stagingPath = stagingPath
        // After the swap the staging file is gone: recreating it would make `complete` swap an
        // empty file over the finished output.
        guard !resumesCompletion else { return }
        let directory = (livePath as NSString).deletingLastPathComponent
        if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        entries = Self.readManifest(at: manifestPath)
        let descriptor = try Self.open(stagingPath, O_RDWR | O_CREAT)
        defer { close(descriptor) }
        guard ftruncate(descriptor, off_t(entries.last?.endOffset ?? 0)) == 0, fsync(descriptor) == 0 else {
            throw Self.failure("cannot prepare", stagingPath)
        }
        try writeManifest()
    }

    /// Reads `sequence hash rows offset` lines; a torn last line (crash mid-append) is ignored.
    private static func readManifest(at path: String) -> [Entry] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line -> Entry? in
            let parts = line.split(separator: " ")
            guard parts.count == 4, let sequence = Int(parts[0]), parts[1].count == 64, let rows = Int(parts[2]), let offset = Int64(parts[3])
            else { return nil }
            return Entry(sequence: sequence, batch: StagedBatch(hash: String(parts[1]), rows: rows), endOffset: offset)
        }
    }

    /// Rewrites the manifest through a temporary file and a rename, so it is never torn.
    private func writeManifest() throws {
        let text = entries.map(\.line).joined()
        let temporary = manifestPath + ".tmp"
        let descriptor = try Self.open(temporary, O_WRONLY | O_CREAT | O_TRUNC)
        defer { close(descriptor) }
        try Self.writeAll(Array(text.utf8), to: descriptor, path: temporary)
        guard fsync(descriptor) == 0, rename(temporary, manifestPath) == 0 else { throw Self.failure("cannot write", manifestPath) }
    }

    func landedBatches() async throws -> [Int: StagedBatch] {
        Dictionary(entries.map { ($0.sequence, $0.batch) }, uniquingKeysWith: { _, last in last })
    }

    func discardBatches(from sequence: Int) async throws {
        entries.removeAll { $0.sequence >= sequence }
        let descriptor = try Self.open(stagingPath, O_RDWR)
        defer { close(descriptor) }
        guard ftruncate(descriptor, off_t(entries.last?.endOffset ?? 0)) == 0, fsync(descriptor) == 0 else {
            throw Self.failure("cannot truncate", stagingPath)
        }
        try writeManifest()
    }

    func load(_ batch: consuming LoadBatch) async throws {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(batch.rows.count * 128)
        for row in batch.rows.values {
            JSONWriter.write(row, into: &bytes)
            bytes.append(0x0A)
        }
        let descriptor = try Self.open(stagingPath, O_WRONLY)
        defer { close(descriptor) }
        let start = entries.last?.endOffset ?? 0
        guard lseek(descriptor, off_t(start), SEEK_SET) >= 0 else { throw Self.failure("cannot seek in", stagingPath) }
        try Self.writeAll(bytes, to: descriptor, path: stagingPath)
        guard fsync(descriptor) == 0 else { throw Self.failure("cannot sync", stagingPath) }
        // The batch counts as landed only once the manifest names it.
        let manifest = try Self.open(manifestPath, O_WRONLY | O_APPEND)
        defer { close(manifest) }
        let entry = Entry(sequence: batch.sequence, batch: StagedBatch(hash: batch.hash, rows: batch.rows.count), endOffset: start + Int64(bytes.count))
        try Self.writeAll(Array(entry.line.utf8), to: manifest, path: manifestPath)
        guard fsync(manifest) == 0 else { throw Self.failure("cannot sync", manifestPath) }
        entries.append(entry)
    }

    func complete() async throws {
        if access(stagingPath, F_OK) == 0 {
            let descriptor = try Self.open(stagingPath, O_RDONLY)
            let synced = fsync(descriptor) == 0
            close(descriptor)
            guard synced, rename(stagingPath, livePath) == 0 else { throw Self.failure("cannot move staging into place at", livePath) }
            Self.syncDirectory(of: livePath)
        }
        unlink(manifestPath)
    }

    private static func open(_ path: String, _ flags: Int32) throws -> Int32 {
        let descriptor = Foundation.open(path, flags | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw failure("cannot open", path) }
        return descriptor
    }

    private static func writeAll(_ bytes: [UInt8], to descriptor: Int32, path: String) throws {
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + written, $0.count - written) }
            if result < 0, errno == EINTR { continue }
            guard result > 0 else { throw failure("cannot write", path) }
            written += result
        }
    }

    /// Makes a rename durable.
    private static func syncDirectory(of path: String) {
        let directory = (path as NSString).deletingLastPathComponent
        let descriptor = Foundation.open(directory.isEmpty ? "." : directory, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        fsync(descriptor)
        close(descriptor)
    }

    private static func failure(_ what: String, _ path: String) -> ETLError {
        ETLError(.stageFailed, "jsonl sink: \(what) \(path): \(String(cString: strerror(errno))); check the disk and permissions, then resume")
    }
}
