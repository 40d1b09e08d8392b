import ETLCore
import Foundation

/// `jsonl` source: one JSON object per line of a local file, read in batches of `batch_size` lines.
/// Its cursor is the byte offset and line number after the last checkpointed batch.
public struct JSONLinesSource: Source {
    public let path: String
    public let batchSize: Int

    public static func register(into registry: inout ComponentRegistry) {
        registry.registerSource("jsonl") { config in
            let path = config.string("path", required: true)
            let batchSize = config.int("batch_size", default: 1000, in: 1...1_000_000)
            return path.map { JSONLinesSource(path: $0, batchSize: batchSize) }
        }
    }

    public func openReader(after cursor: JSONValue?, fields: FieldSelection, context: StageContext) async throws -> any SourceReader {
        var offset: Int64 = 0
        var line = 0
        if let cursor {
            guard case .int(let savedOffset)? = cursor[path: FieldPath("offset")!],
                  case .int(let savedLine)? = cursor[path: FieldPath("line")!]
            else { throw ETLError(.stageFailed, "jsonl source \(path): the saved cursor \(JSONWriter.string(cursor)) is not a jsonl cursor") }
            offset = savedOffset
            line = Int(savedLine)
        }
        return try JSONLinesReader(path: path, offset: offset, line: line, batchSize: batchSize, fields: fields)
    }
}

final class JSONLinesReader: SourceReader {
    private let path: String
    private let batchSize: Int
    private let fields: FieldSelection
    private let file: UnsafeMutablePointer<FILE>
    private var line: Int
    private var lineBuffer: UnsafeMutablePointer<CChar>?
    private var lineCapacity = 0

    let expectedTotal: Int? = nil

    init(path: String, offset: Int64, line: Int, batchSize: Int, fields: FieldSelection) throws {
        self.path = path
        self.fields = fields
        self.line = line
        self.batchSize = batchSize
        guard let file = fopen(path, "rb") else {
            throw ETLError(.stageFailed, "jsonl source: cannot open \(path): \(String(cString: strerror(errno)))")
        }
        self.file = file
        var status = stat()
        if fstat(fileno(file), &status) == 0, Int64(status.st_size) < offset {
            fclose(file)
            throw ETLError(.stageFailed, "jsonl source: \(path) is shorter than when the run was checkpointed (\(status.st_size) < \(offset) bytes); restore it, or start over with --restart")
        }
        fseeko(file, off_t(offset), SEEK_SET)
    }

    deinit {
        free(lineBuffer)
        fclose(file)
    }

    func next() async throws -> SourceBatch? {
        var records: [JSONValue] = []
        records.reserveCapacity(batchSize)
        while records.count < batchSize {
            let length = getline(&lineBuffer, &lineCapacity, file)
            guard length >= 0, let lineBuffer else {
                if ferror(file) != 0 { throw ETLError(.stageFailed, "jsonl source: cannot read \(path): \(String(cString: strerror(errno)))") }
                break
            }
            line += 1
            var bytes = UnsafeBufferPointer(start: UnsafeRawPointer(lineBuffer).assumingMemoryBound(to: UInt8.self), count: length)
            while let last = bytes.last, last == 0x0A || last == 0x0D { bytes = UnsafeBufferPointer(rebasing: bytes.dropLast()) }
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            let value: JSONValue
            do {
                value = try JSONParser.parse(bytes, reading: fields)
            } catch {
                throw ETLError(.stageFailed, "jsonl source: \(path) line \(line) is not valid JSON: \(error); fix or remove that line, then resume")
            }
            guard case .object = value else {
                throw ETLError(.stageFailed, "jsonl source: \(path) line \(line) is a JSON \(value.kindName), not an object; each line must be one JSON object")
            }
            records.append(value)
        }
        guard !records.isEmpty else { return nil }
        let offset = ftello(file)
        return SourceBatch(records: records, cursor: .object(JSONObject([("offset", .int(Int64(offset))), ("line", .int(Int64(line)))])))
    }
}
