extension JSONParser {
    /// Decodes the array of records at `recordsKey` of a JSON object straight into `flattening`'s
    /// rows, appended to `table`, and returns each record's `recordField` (null when it has none)
    /// for the source's own use, such as cursors. `nil` when the document is JSON but not an object
    /// with such an array.
    ///
    /// The rows are those of `parse(_:reading:)` with `flattening.fieldsRead` followed by
    /// `Flattening.rows(from:)`, but no record is built: element fields go straight into cells, and
    /// strings without escapes go from the input into the table's bytes. Throws `JSONParser.Error`
    /// when the input is not JSON (even if a record also fails), `FlatteningFailed` when a record
    /// cannot be exploded.
    public static func flatten(_ buffer: UnsafeBufferPointer<UInt8>, recordsAt recordsKey: String, _ flattening: Flattening,
                               into table: inout RowTable, keeping recordField: String) throws -> [JSONValue]? {
        let plan = FlatteningPlan(flattening, recordField: recordField)
        var parser = JSONParser(buffer: buffer)
        do {
            return try parser.flattenDocument(recordsKey: recordsKey, plan: plan, into: &table)
        } catch let failed as FlatteningFailed {
            // A document that is not JSON is reported as such, as decoding it whole would have.
            _ = try parse(buffer, reading: .nothing)
            throw failed
        }
    }

    private mutating func flattenDocument(recordsKey: String, plan: FlatteningPlan, into table: inout RowTable) throws -> [JSONValue]? {
        let envelope = Projection(.keys([recordsKey: .everything]))!
        var kept: [JSONValue]?
        var seenRecords = false
        skipWhitespace()
        if current == UInt8(ascii: "{") {
            position += 1
            skipWhitespace()
            if current == UInt8(ascii: "}") { position += 1 } else {
                repeat {
                    skipWhitespace()
                    if try keyIndex(in: envelope) != nil {
                        if seenRecords { throw error("duplicate key \"\(recordsKey)\"") }
                        seenRecords = true
                        kept = try flattenRecords(plan: plan, into: &table)
                    } else {
                        try skipValue(depth: 1)
                    }
                } while try !endOfObject()
            }
        } else {
            try skipValue(depth: 0)
        }
        skipWhitespace()
        guard position == buffer.count else { throw error("unexpected content after the JSON value") }
        return kept
    }

    /// The records array; `nil` for anything else in its place.
    private mutating func flattenRecords(plan: FlatteningPlan, into table: inout RowTable) throws -> [JSONValue]? {
        guard current == UInt8(ascii: "[") else {
            try skipValue(depth: 1)
            return nil
        }
        var kept: [JSONValue] = []
        position += 1
        skipWhitespace()
        if current == UInt8(ascii: "]") { position += 1; return kept }
        var scratch = FlatteningScratch(plan: plan)
        while true {
            skipWhitespace()
            kept.append(try flattenRecord(plan: plan, into: &table, scratch: &scratch))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"): position += 1; return kept
            default: throw error("expected ',' or ']' in array")
            }
        }
    }

    /// One record's rows; returns its kept field.
    private mutating func flattenRecord(plan: FlatteningPlan, into table: inout RowTable, scratch: inout FlatteningScratch) throws -> JSONValue {
        let depth = 2
        guard current == UInt8(ascii: "{") else { throw FlatteningFailed(notAnObject: try parseValue(depth: depth)) }
        guard plan.streams else {
            let record = try parseValue(depth: depth, projection: plan.recordProjection)
            try plan.flattening.append(rowsOf: [record], to: &table)
            return record[path: plan.keptPath] ?? .null
        }
        let firstRow = table.count
        for index in scratch.recordValues.indices { scratch.recordValues[index] = nil }
        var seen: UInt64 = 0
        position += 1
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            position += 1
        } else {
            repeat {
                skipWhitespace()
                guard let index = try keyIndex(in: plan.record) else {
                    try skipValue(depth: depth + 1)
                    continue
                }
                if seen & (1 << index) != 0 { throw error("duplicate key \"\(plan.record.keys[index])\"") }
                seen |= 1 << index
                if index == plan.arrayIndex {
                    if current == UInt8(ascii: "[") {
                        try flattenElements(depth: depth + 1, plan: plan, into: &table, scratch: &scratch)
                    } else {
                        let value = try parseValue(depth: depth + 1)
                        if value != .null { throw FlatteningFailed(array: plan.flattening.array, is: value) }
                    }
                } else {
                    scratch.recordValues[index] = try parseValue(depth: depth + 1, projection: plan.record.children[index])
                }
            } while try !endOfObject()
        }
        // The record's columns, known only now: its fields may come after the array.
        if table.count > firstRow {
            for (column, key, below) in plan.recordColumns {
                guard let top = scratch.recordValues[key], let value = below.map({ top[path: $0] }) ?? top, value != .null else { continue }
                let cell = table.cell(for: value)
                for row in firstRow..<table.count { table.set(cell, row: row, column: column) }
            }
        }
        return plan.keptIndex.flatMap { scratch.recordValues[$0] } ?? .null
    }

    private mutating func flattenElements(depth: Int, plan: FlatteningPlan, into table: inout RowTable, scratch: inout FlatteningScratch) throws {
        position += 1
        skipWhitespace()
        if current == UInt8(ascii: "]") { position += 1; return }
        let elementProjection = plan.element
        while true {
            skipWhitespace()
            if let projection = elementProjection, current == UInt8(ascii: "{") {
                try flattenElementObject(depth: depth + 1, projection: projection, plan: plan, into: &table, scratch: &scratch)
                for index in scratch.cells.indices { table.append(scratch.cells[index]) }
            } else {
                let element = try parseValue(depth: depth + 1, projection: plan.element)
                for column in plan.flattening.columns {
                    switch column.origin {
                    case .element(let below?): table.append(element[path: below] ?? .null)
                    case .element(nil): table.append(element)
                    case .record, .removed: table.append(JSONValue.null)
                    }
                }
            }
            table.finishRow()
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"): position += 1; return
            default: throw error("expected ',' or ']' in array")
            }
        }
    }

    /// An element object's cells, into `scratch.cells` in column order.
    private mutating func flattenElementObject(depth: Int, projection element: Projection, plan: FlatteningPlan,
                                               into table: inout RowTable, scratch: inout FlatteningScratch) throws {
        for index in scratch.cells.indices { scratch.cells[index] = .null }
        var seen: UInt64 = 0
        var ordinal = -1
        position += 1
        skipWhitespace()
        if current == UInt8(ascii: "}") { position += 1; return }
        repeat {
            skipWhitespace()
            ordinal += 1
            guard let index = try keyIndex(in: element, ordinal: ordinal, sightings: &scratch.elementKeys) else {
                try skipValue(depth: depth + 1)
                continue
            }
            if seen & (1 << index) != 0 { throw error("duplicate key \"\(element.keys[index])\"") }
            seen |= 1 << index
            let column = plan.elementColumn[index]
            if column >= 0 {
                scratch.cells[column] = try parseCell(depth: depth + 1, into: &table)
                continue
            }
            let uses = plan.elementUses[index]
            if uses.deep.isEmpty {
                let cell = try parseCell(depth: depth + 1, into: &table)
                for column in uses.direct { scratch.cells[column] = cell }
            } else {
                let value = try parseValue(depth: depth + 1, projection: element.children[index])
                for column in uses.direct { scratch.cells[column] = table.cell(for: value) }
                for (column, path) in uses.deep { scratch.cells[column] = table.cell(for: value[path: path] ?? .null) }
            }
        } while try !endOfObject()
    }

    /// A value as a cell of `table`; a string without escapes goes from the input to the table.
    private mutating func parseCell(depth: Int, into table: inout RowTable) throws(Error) -> RowTable.Cell {
        guard current == UInt8(ascii: "\"") else { return table.cell(for: try parseValue(depth: depth)) }
        let start = position
        if try skipString() {
            position = start
            return table.cell(for: .string(try parseString()))
        }
        let bytes = UnsafeBufferPointer(rebasing: buffer[start + 1..<position - 1])
        if !bytes.allSatisfy({ $0 < 0x80 }) {
            // Validated in place: no String is made of it.
            guard (try? UTF8Span(validating: bytes.span)) != nil else {
                position = start
                throw error("string is not valid UTF-8")
            }
        }
        return table.stringCell(utf8: UnsafeRawBufferPointer(bytes))
    }
}

/// A `Flattening` prepared for decoding: which keys of a record and of an element are read, and
/// which columns each feeds.
final class FlatteningPlan {
    let flattening: Flattening
    /// Whether records are decoded field by field. When not (an array below the record's top
    /// level, or more keys than the duplicate check tracks), each record is built and flattened.
    let streams: Bool
    /// What is read of a record, for building it.
    let recordProjection: Projection?
    let keptPath: FieldPath
    /// The record keys read: the array's, those of record columns and the kept field.
    let record: Projection
    let arrayIndex: Int?
    let keptIndex: Int?
    /// Columns taken from the record: from the value of record key `key`, or below it.
    let recordColumns: [(column: Int, key: Int, below: FieldPath?)]
    /// What is read of each element; `nil` when a column takes elements whole, which are then built.
    let element: Projection?
    /// Per key of `element`: the columns it fills as it is (`direct`), and those read below it (`deep`).
    let elementUses: [(direct: [Int], deep: [(Int, FieldPath)])]
    /// Per key of `element`: the one column it fills as it is, when that is all it fills (the usual
    /// case, decoded without touching `elementUses`); -1 otherwise.
    let elementColumn: [Int]

    init(_ flattening: Flattening, recordField: String) {
        self.flattening = flattening
        keptPath = FieldPath(recordField)!
        let arrayKey = flattening.array.keys[0]
        let recordSelection = flattening.fieldsRead.union(.keys([recordField: .everything]))
        recordProjection = Projection(recordSelection)
        var recordKeys: Set = [arrayKey, recordField]
        for case .record(let path) in flattening.columns.map(\.origin) { recordKeys.insert(path.keys[0]) }
        record = Projection(.keys(Dictionary(uniqueKeysWithValues: recordKeys.map { ($0, recordSelection[$0] ?? .everything) })))!
        arrayIndex = record.keys.firstIndex(of: arrayKey)
        keptIndex = record.keys.firstIndex(of: recordField)
        recordColumns = flattening.columns.enumerated().compactMap { [record] index, column in
            guard case .record(let path) = column.origin else { return nil }
            return (index, record.keys.firstIndex(of: path.keys[0])!, path.droppingFirst())
        }
        let takesWholeElements = flattening.columns.contains { if case .element(nil) = $0.origin { true } else { false } }
        element = takesWholeElements ? nil : Projection(flattening.fieldsRead[arrayKey] ?? .nothing)
        elementUses = (element?.keys ?? []).map { key in
            var direct: [Int] = [], deep: [(Int, FieldPath)] = []
            for (index, column) in flattening.columns.enumerated() {
                guard case .element(let below?) = column.origin, below.keys[0] == key else { continue }
                if let rest = below.droppingFirst() { deep.append((index, rest)) } else { direct.append(index) }
            }
            return (direct, deep)
        }
        elementColumn = elementUses.map { $0.direct.count == 1 && $0.deep.isEmpty ? $0.direct[0] : -1 }
        streams = flattening.array.keys.count == 1 && recordField != arrayKey && record.keys.count <= 64 && (element?.keys.count ?? 0) <= 64
    }
}

/// Buffers reused from record to record.
struct FlatteningScratch {
    var recordValues: [JSONValue?]
    var cells: [RowTable.Cell]
    /// The keys of the last element object, in order (see `JSONParser.keyIndex(in:ordinal:sightings:)`).
    var elementKeys: [KeySighting] = []

    init(plan: FlatteningPlan) {
        recordValues = Array(repeating: nil, count: plan.record.keys.count)
        cells = Array(repeating: .null, count: plan.flattening.columns.count)
    }
}
