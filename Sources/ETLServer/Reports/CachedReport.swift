import ETLCore
import Hummingbird

/// One ranked list's rows for one completed load, encoded once: a request for N rows is a prefix
/// of the encoded array plus its closing bracket, two buffers handed to the server without copying.
final class CachedReport: Sendable {
    let spec: ReportSpec
    /// The rows as served: the spec's `fields` in order, with the 1-based rank.
    let rows: [JSONObject]
    /// `[row1,row2,…` without the closing bracket.
    private let encoded: ByteBuffer
    /// `encodedEnds[i]` is the length of the prefix holding the first `i` rows.
    private let encodedEnds: [Int]
    private let defaultBody: ByteBuffer
    private static let closingBracket = ByteBuffer(string: "]")

    /// - Throws: `ReportShapeError` when the query's rows do not fit the spec's `fields`.
    init(spec: ReportSpec, queryRows: [JSONObject]) throws(ReportShapeError) {
        self.spec = spec
        let limit = spec.limit!
        let rows = try queryRows.prefix(limit.maximum).enumerated().map { index, row throws(ReportShapeError) in try spec.shape(row, rank: index + 1) }
        var bytes: [UInt8] = [UInt8(ascii: "[")]
        var ends = [1]
        for (index, row) in rows.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            JSONWriter.write(.object(row), into: &bytes)
            ends.append(bytes.count)
        }
        self.rows = rows
        encoded = ByteBuffer(bytes: bytes)
        encodedEnds = ends
        var body = ByteBuffer(bytes: bytes[..<ends[min(limit.defaultCount, rows.count)]])
        body.writeString("]")
        defaultBody = body
    }

    /// The JSON array of the first `count` rows (fewer when the load has fewer).
    func body(count: Int) -> ResponseBody {
        if count == spec.limit!.defaultCount { return ResponseBody(byteBuffer: defaultBody) }
        let length = encodedEnds[min(count, rows.count)]
        return ResponseBody(contentsOf: [encoded.getSlice(at: encoded.readerIndex, length: length)!, Self.closingBracket])
    }
}
