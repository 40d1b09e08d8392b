/// The content hash of a batch: SHA-256 over a canonical binary form of its rows, so that identical
/// rows give identical hashes in every process. It is how a resumed run recognises a batch that
/// reached the sink before the crash, and notices a source that now yields different data.
///
/// The form is prefix-free: a tag byte per value; integers and doubles as 8 little-endian bytes;
/// strings as a 4-byte length and their UTF-8; arrays and objects as a 4-byte count and their
/// elements (object keys as strings, in row order).
enum BatchHash {
    /// Tables hash as the same rows written as objects would: how rows are stored (and in how
    /// many tables) does not change a batch's hash.
    static func of(_ rows: Rows) -> String {
        var hasher = SHA256()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(chunkSize + 1024)
        switch rows {
        case .values(let values):
            for row in values {
                append(row, to: &bytes)
                feed(&bytes, to: &hasher)
            }
        case .tables(let tables):
            for table in tables {
                // What every row of the table starts with (an object's tag and size), then each
                // column's key: the same bytes in every row, so written out once.
                var fixed: [UInt8] = [7]
                append(UInt32(table.columns.count), to: &fixed)
                let rowStart = 0..<fixed.count
                let keys = table.columns.map { name in
                    let start = fixed.count
                    append(name, to: &fixed)
                    return start..<fixed.count
                }
                fixed.withUnsafeBufferPointer { fixed in
                    table.text.withUnsafeBufferPointer { text in
                        for row in 0..<table.count {
                            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: fixed[rowStart]))
                            for column in keys.indices {
                                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: fixed[keys[column]]))
                                append(table[row, column], of: table, text: text, to: &bytes)
                            }
                            feed(&bytes, to: &hasher)
                        }
                    }
                }
            }
        }
        hasher.update(bytes)
        return hasher.finalizeHex()
    }

    /// Bytes gathered before they are fed to the hasher.
    private static let chunkSize = 1 << 16

    private static func feed(_ bytes: inout [UInt8], to hasher: inout SHA256) {
        guard bytes.count >= chunkSize else { return }
        hasher.update(bytes)
        bytes.removeAll(keepingCapacity: true)
    }

    private static func append(_ value: JSONValue, to bytes: inout [UInt8]) {
        switch value {
        case .null: bytes.append(0)
        case .bool(let bool): bytes.append(bool ? 2 : 1)
        case .int(let int):
            append(int: int, to: &bytes)
        case .double(let double):
            bytes.append(4)
            append(double.bitPattern, to: &bytes)
        case .string(let string):
            bytes.append(5)
            append(string, to: &bytes)
        case .array(let elements):
            bytes.append(6)
            append(UInt32(elements.count), to: &bytes)
            for element in elements { append(element, to: &bytes) }
        case .object(let object):
            bytes.append(7)
            append(UInt32(object.fields.count), to: &bytes)
            for field in object.fields {
                append(field.key, to: &bytes)
                append(field.value, to: &bytes)
            }
        }
    }

    /// A cell of `table`, whose string bytes are `text`.
    private static func append(_ cell: RowTable.Cell, of table: RowTable, text: UnsafeBufferPointer<UInt8>, to bytes: inout [UInt8]) {
        switch cell {
        case .string(let offset, let count):
            bytes.append(5)
            append(count, to: &bytes)
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: text[offset..<offset + Int(count)]))
        case .int(let int):
            append(int: int, to: &bytes)
        case .null, .bool, .double, .nested:
            append(table.value(of: cell), to: &bytes)
        }
    }

    private static func append(int: Int64, to bytes: inout [UInt8]) {
        bytes.append(3)
        append(UInt64(bitPattern: int), to: &bytes)
    }

    private static func append(_ string: String, to bytes: inout [UInt8]) {
        var string = string
        string.withUTF8 { utf8 in
            append(UInt32(utf8.count), to: &bytes)
            bytes.append(contentsOf: utf8)
        }
    }

    private static func append(_ integer: some FixedWidthInteger, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: integer.littleEndian) { bytes.append(contentsOf: $0) }
    }
}
