import ETLCore
import Hummingbird

/// One report's rows for one completed load, encoded once: a request for N rows is a prefix of
/// the encoded array plus its closing bracket, two buffers handed to the server without copying.
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

    /// - Throws: `ReportShapeError` when the query's rows lack a field the spec lists.
    init(spec: ReportSpec, queryRows: [JSONObject]) throws(ReportShapeError) {
        self.spec = spec
        var rows: [JSONObject] = []
        rows.reserveCapacity(queryRows.count)
        for (index, row) in queryRows.prefix(spec.maximumLimit).enumerated() {
            var object = JSONObject(minimumCapacity: spec.fields.count)
            for field in spec.fields {
                if field == spec.rankField {
                    object.appendUnchecked(field, .int(Int64(index + 1)))
                } else if let value = row[field] {
                    object.appendUnchecked(field, value)
                } else {
                    throw ReportShapeError(report: spec.name, field: field, columns: row.keys)
                }
            }
            rows.append(object)
        }
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
        var body = ByteBuffer(bytes: bytes[..<ends[min(spec.defaultLimit, rows.count)]])
        body.writeString("]")
        defaultBody = body
    }

    /// The JSON array of the first `count` rows (fewer when the load has fewer).
    func body(count: Int) -> ResponseBody {
        if count == spec.defaultLimit { return ResponseBody(byteBuffer: defaultBody) }
        let length = encodedEnds[min(count, rows.count)]
        return ResponseBody(contentsOf: [encoded.getSlice(at: encoded.readerIndex, length: length)!, Self.closingBracket])
    }
}

/// A report query whose rows lack a field that the report's `fields` list.
struct ReportShapeError: Error, CustomStringConvertible {
    let report: String
    let field: String
    let columns: [String]

    var description: String {
        "report \(report): the query returns no column \"\(field)\" (it returns \(columns.map { "\"\($0)\"" }.joined(separator: ", "))); fix its query or fields in the pipeline file"
    }
}
