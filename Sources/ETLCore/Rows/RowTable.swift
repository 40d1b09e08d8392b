/// Rows that all have the same named columns, stored flat: one array of cells for the whole batch,
/// row after row, and one buffer for the bytes of all its strings. A row is no object and a string
/// no heap allocation, so building, hashing, encoding and freeing a batch costs a few large
/// allocations instead of several per row. `select` produces tables; sinks that know their columns
/// read them cell by cell.
public struct RowTable: Sendable {
    /// One value of a row. Strings point into the table's `text`; arrays and objects, rare in
    /// loaded rows, are kept whole in `nested`.
    public enum Cell: Sendable, Equatable {
        case null
        case bool(Bool)
        case int(Int64)
        case double(Double)
        case string(offset: Int, count: UInt32)
        case nested(Int)
    }

    public let columns: [String]
    public private(set) var count = 0
    /// `count × columns.count` cells, row after row.
    public private(set) var cells: [Cell] = []
    /// The UTF-8 bytes of every string cell.
    public private(set) var text: [UInt8] = []
    private var nested: [JSONValue] = []

    public init(columns: [String], reservingRows rows: Int = 0) {
        self.columns = columns
        cells.reserveCapacity(rows * columns.count)
        text.reserveCapacity(rows * 32)
    }

    // MARK: Building, one cell at a time in column order, then `finishRow`

    public mutating func append(_ value: JSONValue) {
        append(cell(for: value))
    }

    /// Appends a cell made by this table (`cell(for:)`, `stringCell(utf8:)`).
    public mutating func append(_ cell: Cell) {
        cells.append(cell)
    }

    /// Ends a row; every column must have had its cell.
    public mutating func finishRow() {
        count += 1
        precondition(cells.count == count * columns.count, "a row of \(columns.count) columns got \(cells.count - (count - 1) * columns.count) cells")
    }

    /// A cell holding `value`, its bytes or value stored in this table, for appending (once or
    /// more) or for `set`.
    public mutating func cell(for value: JSONValue) -> Cell {
        switch value {
        case .null: return .null
        case .bool(let bool): return .bool(bool)
        case .int(let int): return .int(int)
        case .double(let double): return .double(double)
        case .string(let string):
            let offset = text.count
            text.append(contentsOf: string.utf8)
            return .string(offset: offset, count: Self.stringLength(text.count - offset))
        case .array, .object:
            nested.append(value)
            return .nested(nested.count - 1)
        }
    }

    /// A string cell from its UTF-8 bytes, which must be valid UTF-8.
    public mutating func stringCell(utf8 bytes: UnsafeRawBufferPointer) -> Cell {
        let offset = text.count
        text.append(contentsOf: bytes)
        return .string(offset: offset, count: Self.stringLength(bytes.count))
    }

    /// Gives back the capacity that growing left unused: for a table kept a while, such as a
    /// page's table kept as part of its batch.
    public mutating func trimCapacity() {
        Self.trim(&cells)
        Self.trim(&text)
    }

    /// Moves `array` into storage of its size when growing left more than an eighth of it unused.
    private static func trim<Element>(_ array: inout [Element]) {
        guard array.capacity > array.count + array.count / 8 else { return }
        array = Array(unsafeUninitializedCapacity: array.count) { buffer, initialized in
            initialized = buffer.initialize(fromContentsOf: array)
        }
    }

    private static func stringLength(_ count: Int) -> UInt32 {
        guard let length = UInt32(exactly: count) else { fatalError("a string of \(count) bytes does not fit a row table (4 GiB at most)") }
        return length
    }

    // MARK: Reading

    public subscript(row: Int, column: Int) -> Cell {
        cells[row * columns.count + column]
    }

    /// The cell as a `JSONValue`.
    public func value(of cell: Cell) -> JSONValue {
        switch cell {
        case .null: .null
        case .bool(let bool): .bool(bool)
        case .int(let int): .int(int)
        case .double(let double): .double(double)
        case .string(let offset, let count): .string(String(decoding: text[offset..<offset + Int(count)], as: UTF8.self))
        case .nested(let index): nested[index]
        }
    }

    /// The value at `path` in a row, the first key naming the column; `nil` when any step is missing.
    public func value(at path: FieldPath, row: Int) -> JSONValue? {
        guard let column = columns.firstIndex(of: path.keys[0]) else { return nil }
        let value = value(of: self[row, column])
        guard let below = path.droppingFirst() else { return value }
        return value[path: below]
    }

    /// Every row as an object with the table's columns as keys.
    public var values: [JSONValue] {
        (0..<count).map { row in
            var object = JSONObject(minimumCapacity: columns.count)
            for (column, name) in columns.enumerated() { object.appendUnchecked(name, value(of: self[row, column])) }
            return .object(object)
        }
    }

    // MARK: Changing

    /// Replaces a cell with one made by this table. A replaced string's bytes stay in `text`, unused.
    public mutating func set(_ cell: Cell, row: Int, column: Int) {
        cells[row * columns.count + column] = cell
    }

    /// The same rows with other columns: each named `name`, holding the cells of column `source`
    /// of this table (null where `source` is nil). Strings and nested values are shared, not
    /// copied: a projection costs one pass over the cells.
    public func projected(_ projection: [(name: String, source: Int?)]) -> RowTable {
        var result = RowTable(columns: projection.map(\.name))
        result.cells.reserveCapacity(count * projection.count)
        for row in 0..<count {
            let start = row * columns.count
            for column in projection { result.cells.append(column.source.map { cells[start + $0] } ?? .null) }
        }
        result.count = count
        result.text = text
        result.nested = nested
        return result
    }

    /// The rows for which `isIncluded(row)` holds.
    public func filter(_ isIncluded: (Int) throws -> Bool) rethrows -> RowTable {
        var kept = RowTable(columns: columns)
        for row in 0..<count where try isIncluded(row) {
            for column in columns.indices { kept.append(value(of: self[row, column])) }
            kept.finishRow()
        }
        return kept
    }
}

extension RowTable: Equatable {
    /// Tables are equal when their columns and values are, however the values are stored.
    public static func == (a: RowTable, b: RowTable) -> Bool {
        a.columns == b.columns && a.count == b.count && a.values == b.values
    }
}
