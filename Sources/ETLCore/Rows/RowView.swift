/// One cell of a row as a sink reads it, whatever the batch's representation: a table's strings
/// as their UTF-8 bytes in place, a value row's as `String`.
public enum RowCell {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    /// Bytes of a table's text: valid only inside the row callback that produced them.
    case utf8(UnsafeBufferPointer<UInt8>)
    case string(String)
    /// An array or an object.
    case nested(JSONValue)

    @inlinable
    public init(_ value: JSONValue) {
        switch value {
        case .null: self = .null
        case .bool(let bool): self = .bool(bool)
        case .int(let int): self = .int(int)
        case .double(let double): self = .double(double)
        case .string(let string): self = .string(string)
        case .array, .object: self = .nested(value)
        }
    }

    /// The cell as a value (copies a table's bytes into a `String`).
    public var value: JSONValue {
        switch self {
        case .null: .null
        case .bool(let bool): .bool(bool)
        case .int(let int): .int(int)
        case .double(let double): .double(double)
        case .utf8(let bytes): .string(String(decoding: bytes, as: UTF8.self))
        case .string(let string): .string(string)
        case .nested(let value): value
        }
    }
}

/// The cells of one row, for the columns a sink asked for (in that order; a column the row lacks
/// is null). Valid only inside the callback of `Rows.forEachRow` or `Rows.drainRows`.
public struct RowCells {
    @usableFromInline let table: UnsafePointer<RowTable>?
    @usableFromInline let cells: UnsafeBufferPointer<RowTable.Cell>
    @usableFromInline let text: UnsafeBufferPointer<UInt8>
    /// Per asked column: its index in the table, or -1.
    @usableFromInline let positions: UnsafeBufferPointer<Int>
    @usableFromInline let object: JSONObject?
    @usableFromInline let names: UnsafeBufferPointer<String>

    @usableFromInline
    init(table: UnsafePointer<RowTable>?, cells: UnsafeBufferPointer<RowTable.Cell>, text: UnsafeBufferPointer<UInt8>,
         positions: UnsafeBufferPointer<Int>, object: JSONObject?, names: UnsafeBufferPointer<String>) {
        self.table = table
        self.cells = cells
        self.text = text
        self.positions = positions
        self.object = object
        self.names = names
    }

    /// How many columns were asked for.
    @inlinable public var count: Int { table == nil ? names.count : positions.count }

    @inlinable
    public subscript(column: Int) -> RowCell {
        guard let table else {
            guard let value = object?[names[column]] else { return .null }
            return RowCell(value)
        }
        let position = positions[column]
        guard position >= 0 else { return .null }
        switch cells[position] {
        case .null: return .null
        case .bool(let bool): return .bool(bool)
        case .int(let int): return .int(int)
        case .double(let double): return .double(double)
        case .string(let offset, let count): return .utf8(UnsafeBufferPointer(rebasing: text[offset..<offset + Int(count)]))
        case .nested: return RowCell(table.pointee.value(of: cells[position]))
        }
    }
}

extension Rows {
    /// Calls `body` with each row's cells of `columns`, in order: the one way sinks and the runner
    /// read rows, whatever their representation. A row that is not an object has no cells (all null);
    /// `onNonObject` may reject it instead.
    @inlinable
    public func forEachRow(columns: [String], onNonObject: (Int, JSONValue) throws -> Void = { _, _ in },
                           _ body: (RowCells) throws -> Void) rethrows {
        switch self {
        case .tables(let tables):
            for table in tables { try Self.forEachRow(of: table, columns: columns, body) }
        case .values(let values):
            try columns.withUnsafeBufferPointer { names in
                for (index, value) in values.enumerated() {
                    guard case .object(let object) = value else {
                        try onNonObject(index, value)
                        try body(RowCells(table: nil, cells: .init(start: nil, count: 0), text: .init(start: nil, count: 0),
                                          positions: .init(start: nil, count: 0), object: JSONObject(), names: names))
                        continue
                    }
                    try body(RowCells(table: nil, cells: .init(start: nil, count: 0), text: .init(start: nil, count: 0),
                                      positions: .init(start: nil, count: 0), object: object, names: names))
                }
            }
        }
    }

    /// `forEachRow`, leaving these rows empty and freeing each table once its rows have been read,
    /// so that a sink never holds a whole batch twice (its rows and their encoding).
    @inlinable
    public mutating func drainRows(columns: [String], onNonObject: (Int, JSONValue) throws -> Void = { _, _ in },
                                   _ body: (RowCells) throws -> Void) rethrows {
        guard var tables = takeTables() else {
            let values = self
            self = .values([])
            try values.forEachRow(columns: columns, onNonObject: onNonObject, body)
            return
        }
        tables.reverse()
        while let table = tables.popLast() {
            try Self.forEachRow(of: table, columns: columns, body)
        }
    }

    @inlinable
    static func forEachRow(of table: RowTable, columns: [String], _ body: (RowCells) throws -> Void) rethrows {
        let positions = columns.map { table.columns.firstIndex(of: $0) ?? -1 }
        try withUnsafePointer(to: table) { tablePointer in
            try table.cells.withUnsafeBufferPointer { cells in
                try table.text.withUnsafeBufferPointer { text in
                    try positions.withUnsafeBufferPointer { positions in
                        let width = table.columns.count
                        for row in 0..<table.count {
                            try body(RowCells(table: tablePointer, cells: UnsafeBufferPointer(rebasing: cells[row * width..<(row + 1) * width]),
                                              text: text, positions: positions, object: nil, names: .init(start: nil, count: 0)))
                        }
                    }
                }
            }
        }
    }
}

extension RowCells {
    /// The cells as bytes that are equal exactly when the cells are, for keys: a tag per cell,
    /// then its bytes (a whole double is an integer, as it would be in a typed column).
    public func keyBytes() -> [UInt8] {
        var bytes: [UInt8] = []
        func append(integer: Int64) { withUnsafeBytes(of: integer.littleEndian) { bytes.append(contentsOf: $0) } }
        func append(text utf8: some Collection<UInt8>) {
            bytes.append(4)
            append(integer: Int64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
        for column in 0..<count {
            switch self[column] {
            case .null: bytes.append(0)
            case .bool(let flag): bytes.append(contentsOf: [1, flag ? 1 : 0])
            case .int(let integer):
                bytes.append(2)
                append(integer: integer)
            case .double(let double):
                if let integer = Int64(exactly: double) {
                    bytes.append(2)
                    append(integer: integer)
                } else {
                    bytes.append(3)
                    withUnsafeBytes(of: double.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
                }
            case .utf8(let utf8): append(text: utf8)
            case .string(let string): append(text: string.utf8)
            case .nested(let value):
                var json: [UInt8] = []
                JSONWriter.write(value, into: &json)
                bytes.append(5)
                append(integer: Int64(json.count))
                bytes.append(contentsOf: json)
            }
        }
        return bytes
    }
}
