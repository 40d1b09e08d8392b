import ETLCore
import Foundation

/// `jsonl` source: one JSON object per line of a local file, read in batches of `batch_size` lines.
/// Its cursor is the byte offset and line number after the last checkpointed batch, with a
/// fingerprint of the bytes before that offset.
///
/// Incremental: a new `append` or `merge` run reads only the lines added since the last run. A
/// file that is shorter than the cursor, or whose bytes before it changed, was replaced: that is
/// an error, which `--full-refresh` gets past. A following run treats a last line without its
/// newline as still being written, and fills a batch for up to `max_batch_wait_ms` as lines come.
/// With `continuous` the file is a log that is appended to forever: its pipeline needs `append` or
/// `merge`, and `etl serve` follows it.
public struct JSONLinesSource: Source {
    public let path: String
    public let batchSize: Int
    public let maxBatchWait: Duration
    public let isContinuous: Bool

    public var isIncremental: Bool { true }

    public static func register(into registry: inout ComponentRegistry) {
        registry.registerSource("jsonl") { config in
            let path = config.string("path", required: true)
            let batchSize = config.int("batch_size", default: 1000, in: 1...1_000_000)
            let wait = config.int("max_batch_wait_ms", default: 500, in: 0...3_600_000)
            let continuous = config.bool("continuous", default: false)
            return path.map { JSONLinesSource(path: $0, batchSize: batchSize, maxBatchWait: .milliseconds(wait), isContinuous: continuous) }
        }
    }

    public func openReader(after cursor: JSONValue?, fields: FieldSelection, context: StageContext) async throws -> any SourceReader {
        var offset: Int64 = 0
        var line = 0
        var fingerprint: String?
        if let cursor {
            guard case .int(let savedOffset)? = cursor[path: FieldPath("offset")!],
                  case .int(let savedLine)? = cursor[path: FieldPath("line")!]
            else { throw ETLError(.stageFailed, "jsonl source \(path): the saved cursor \(JSONWriter.string(cursor)) is not a jsonl cursor") }
            offset = savedOffset
            line = Int(savedLine)
            if case .string(let saved)? = cursor[path: FieldPath("before")!] { fingerprint = saved }
        }
        return try JSONLinesReader(path: path, offset: offset, line: line, fingerprint: fingerprint, batchSize: batchSize,
                                   fields: fields, following: context.following, maxBatchWait: maxBatchWait)
    }
}

final class JSONLinesReader: SourceReader {
    /// How many bytes before the cursor its fingerprint covers.
    static let fingerprintLength = 4096

    private let path: String
    private let batchSize: Int
    private let fields: FieldSelection
    private let following: Bool
    private let maxBatchWait: Duration
    private let file: UnsafeMutablePointer<FILE>
    private var line: Int
    /// Bytes of the lines read so far: the cursor's offset. Counted, not asked of the file, so that
    /// a pipe works too.
    private var position: Int64
    /// The last bytes before `position` (at least `fingerprintLength` of them, when there are).
    private var tail: [UInt8]
    /// A following run's last line read without its newline yet: it is still being written.
    private var pending: [UInt8] = []
    private var lineBuffer: UnsafeMutablePointer<CChar>?
    private var lineCapacity = 0

    let expectedTotal: Int? = nil

    init(path: String, offset: Int64, line: Int, fingerprint: String?, batchSize: Int, fields: FieldSelection, following: Bool, maxBatchWait: Duration) throws {
        self.path = path
        self.fields = fields
        self.line = line
        self.batchSize = batchSize
        self.following = following
        self.maxBatchWait = maxBatchWait
        position = offset
        tail = []
        guard let file = fopen(path, "rb") else {
            throw ETLError(.stageFailed, "jsonl source: cannot open \(path): \(String(cString: strerror(errno)))")
        }
        self.file = file
        // From here on a throw runs `deinit`, which closes the file.
        guard offset > 0 else { return }
        var status = stat()
        let replaced = "restore it, or read it again from the start with `etl run PIPELINE --full-refresh`"
        if fstat(fileno(file), &status) == 0, Int64(status.st_size) < offset {
            throw ETLError(.stageFailed, "jsonl source: \(path) is shorter than when it was last read (\(status.st_size) < \(offset) bytes), so it was replaced; \(replaced)")
        }
        let start = max(0, offset - Int64(Self.fingerprintLength))
        var before = [UInt8](repeating: 0, count: Int(offset - start))
        let read = pread(fileno(file), &before, before.count, off_t(start))
        if read == before.count {
            tail = before
            if let fingerprint, SHA256.hex(tail) != fingerprint {
                throw ETLError(.stageFailed, "jsonl source: the bytes of \(path) before offset \(offset), where it was last read, have changed, so it was replaced or rewritten; \(replaced)")
            }
        }
        fseeko(file, off_t(offset), SEEK_SET)
    }

    deinit {
        free(lineBuffer)
        fclose(file)
    }

    /// The next whole line (newline included, if it has one), or nil at the end for now. A
    /// following run keeps a line without its newline in `pending` and reads it on once complete.
    private func readLine() throws -> [UInt8]? {
        let length = getline(&lineBuffer, &lineCapacity, file)
        guard length >= 0, let lineBuffer else {
            if ferror(file) != 0 { throw ETLError(.stageFailed, "jsonl source: cannot read \(path): \(String(cString: strerror(errno)))") }
            clearerr(file)  // a file that grows has more to read later
            return nil
        }
        var bytes = pending
        bytes.append(contentsOf: UnsafeRawBufferPointer(start: lineBuffer, count: length))
        pending = []
        if following, bytes.last != 0x0A {
            pending = bytes
            return nil
        }
        return bytes
    }

    func next() async throws -> SourceBatch? {
        var records: [JSONValue] = []
        records.reserveCapacity(batchSize)
        let clock = ContinuousClock()
        var deadline: ContinuousClock.Instant?
        while records.count < batchSize {
            guard let bytes = try readLine() else {
                // At the end for now. A following run fills a started batch for a while as lines come.
                guard let deadline, clock.now < deadline else { break }
                try await Task.sleep(for: .milliseconds(20))
                continue
            }
            line += 1
            position += Int64(bytes.count)
            tail.append(contentsOf: bytes)
            if tail.count > 2 * Self.fingerprintLength { tail.removeFirst(tail.count - Self.fingerprintLength) }
            if deadline == nil, following { deadline = clock.now + maxBatchWait }
            var content = bytes[...]
            while let last = content.last, last == 0x0A || last == 0x0D { content = content.dropLast() }
            if content.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            let value: JSONValue
            do {
                value = try content.withUnsafeBufferPointer { try JSONParser.parse($0, reading: fields) }
            } catch {
                throw ETLError(.stageFailed, "jsonl source: \(path) line \(line) is not valid JSON: \(error); fix or remove that line, then resume")
            }
            guard case .object = value else {
                throw ETLError(.stageFailed, "jsonl source: \(path) line \(line) is a JSON \(value.kindName), not an object; each line must be one JSON object")
            }
            records.append(value)
        }
        guard !records.isEmpty else { return nil }
        return SourceBatch(records: records, cursor: .object(JSONObject([
            ("offset", .int(position)), ("line", .int(Int64(line))), ("before", .string(SHA256.hex(Array(tail.suffix(Self.fingerprintLength))))),
        ])))
    }
}
