/// Rows made from records by exploding one array field and picking fields of each element and of
/// its record: an `explode` followed by a `select`, as one step. A source that decodes JSON can
/// apply it while decoding (`JSONParser.flatten`), so that its records never exist as values.
public struct Flattening: Sendable {
    /// Where a column's value comes from.
    public enum Origin: Sendable {
        /// The element, or a path below it (`line_item.title`).
        case element(below: FieldPath?)
        /// The record (`id`).
        case record(FieldPath)
        /// The exploded array itself, which explode removes from the record: always null.
        case removed
    }

    /// The exploded array.
    public let array: FieldPath
    public let columns: [(name: String, origin: Origin)]
    /// What is read of each record.
    public let fieldsRead: FieldSelection

    /// `select` of `(name, source)` fields after exploding `array` as `alias`.
    public init(array: FieldPath, alias: String, select: [(name: String, source: FieldPath)], fieldsRead: FieldSelection) {
        self.array = array
        self.fieldsRead = fieldsRead
        columns = select.map { field in
            let first = field.source.keys[0]
            if first == alias { return (field.name, .element(below: field.source.droppingFirst())) }
            if array.keys.count == 1, first == array.keys[0] { return (field.name, .removed) }
            return (field.name, .record(field.source))
        }
    }

    /// The rows of `records` in memory.
    public func rows(from records: [JSONValue]) throws(FlatteningFailed) -> RowTable {
        var table = RowTable(columns: columns.map(\.name), reservingRows: records.count * 3)
        try append(rowsOf: records, to: &table)
        return table
    }

    /// Appends the rows of `records` to a table of this flattening's columns.
    public func append(rowsOf records: [JSONValue], to table: inout RowTable) throws(FlatteningFailed) {
        var fromRecord = [JSONValue](repeating: .null, count: columns.count)
        for record in records {
            guard let elements = try Self.elements(of: record, at: array) else { continue }
            for (index, column) in columns.enumerated() {
                if case .record(let path) = column.origin { fromRecord[index] = record[path: path] ?? .null }
            }
            for element in elements {
                for (index, column) in columns.enumerated() {
                    switch column.origin {
                    case .element(let below?): table.append(element[path: below] ?? .null)
                    case .element(nil): table.append(element)
                    case .record: table.append(fromRecord[index])
                    case .removed: table.append(JSONValue.null)
                    }
                }
                table.finishRow()
            }
        }
    }

    /// The elements to explode a record into; `nil` for a record without the array.
    public static func elements(of record: JSONValue, at array: FieldPath) throws(FlatteningFailed) -> [JSONValue]? {
        guard case .object = record else { throw FlatteningFailed(notAnObject: record) }
        switch record[path: array] {
        case .array(let elements)?: return elements
        case nil, .null?: return nil
        case let other?: throw FlatteningFailed(array: array, is: other)
        }
    }
}

/// A record that cannot be exploded; the message names the step, as a transform's errors do.
public struct FlatteningFailed: Error, CustomStringConvertible {
    public let description: String

    init(notAnObject record: JSONValue) {
        description = "explode: row is a \(record.kindName), not an object"
    }

    init(array: FieldPath, is value: JSONValue) {
        description = "explode: field \(array) is a \(value.kindName), expected an array"
    }
}
