import ETLCore

/// The generic transforms every pipeline can use.
public enum Transforms {
    public static func register(into registry: inout ComponentRegistry) {
        registry.registerTransform("explode", Explode.make)
        registry.registerTransform("select", Select.make)
        registry.registerTransform("filter", Filter.make)
        registry.registerTransform("cast", Cast.make)
    }
}

/// A transform that cannot handle a row; says which step, which field and what was found.
struct TransformFailed: Error, CustomStringConvertible {
    let step: String
    let message: String
    var description: String { "\(step): \(message)" }
}

/// `explode`: one output row per element of an array field. The parent row's other fields stay, so
/// later steps reach both (`id` and `line_item.title`). Rows whose array is empty or missing yield
/// nothing.
///
///     {"type": "explode", "field": "line_items", "as": "line_item"}
struct Explode: Transform {
    let field: FieldPath
    let alias: String

    static func make(_ config: inout ConfigReader) -> (any Transform)? {
        let field = config.fieldPath("field", required: true)
        let alias = config.string("as")
        guard let field else { return nil }
        return Explode(field: field, alias: alias ?? field.keys.last!)
    }

    func apply(_ rows: Rows) throws -> Rows {
        var output: [JSONValue] = []
        output.reserveCapacity(rows.count * 3)
        for row in rows.values {
            guard let elements = try Flattening.elements(of: row, at: field), case .object(var parent) = row else { continue }
            if field.keys.count == 1 { parent[field.keys[0]] = nil }
            for element in elements {
                var child = parent
                child[alias] = element
                output.append(.object(child))
            }
        }
        return .values(output)
    }

    /// The parent's fields as read, and the array with what is read of the alias in each element.
    func fieldsRead(toProduce output: FieldSelection) -> FieldSelection {
        guard case .keys = output else { return .everything }
        return output.removing(alias).union(.at(field, output[alias] ?? .nothing))
    }

    /// Followed by `select`, the selected rows are built straight from each parent and element.
    func fused(with next: any Transform) -> (any Transform)? {
        (next as? Select).map { ExplodeSelect(explode: self, select: $0) }
    }
}

/// `explode` then `select` in one pass, with the same rows: each selected field is read from the
/// element or from the parent row directly, without building the exploded rows (`Flattening`). As
/// the first step, it runs inside a source that can decode records straight into its rows.
struct ExplodeSelect: Transform {
    let explode: Explode
    let select: Select
    let plan: Flattening

    init(explode: Explode, select: Select) {
        self.explode = explode
        self.select = select
        plan = Flattening(array: explode.field, alias: explode.alias, select: select.fields,
                          fieldsRead: explode.fieldsRead(toProduce: select.fieldsRead(toProduce: .everything)))
    }

    var flattening: Flattening? { plan }

    func apply(_ rows: Rows) throws -> Rows {
        .table(try plan.rows(from: rows.values))
    }

    func fieldsRead(toProduce output: FieldSelection) -> FieldSelection {
        explode.fieldsRead(toProduce: select.fieldsRead(toProduce: output))
    }
}

/// `select`: rows made of the named fields only, renamed, in the order the file lists them. A
/// missing source field gives `null`.
///
///     {"type": "select", "fields": {"order_id": "id", "title": "line_item.title"}}
struct Select: Transform {
    let fields: [(name: String, source: FieldPath)]

    static func make(_ config: inout ConfigReader) -> (any Transform)? {
        guard let map = config.stringMap("fields", required: true) else { return nil }
        var fields: [(name: String, source: FieldPath)] = []
        for (name, sourceText) in map {
            guard let source = FieldPath(sourceText) else {
                config.report("\"\(sourceText)\" is not a field path (use names joined by dots)", at: "fields")
                continue
            }
            fields.append((name, source))
        }
        return fields.count == map.count ? Select(fields: fields) : nil
    }

    func apply(_ rows: Rows) throws -> Rows {
        // Tables and top-level fields only (a column per field): the cells are rearranged, not read.
        if case .tables(let tables) = rows, fields.allSatisfy({ $0.source.keys.count == 1 }) {
            return .tables(tables.map { table in
                table.projected(fields.map { field in (field.name, table.columns.firstIndex(of: field.source.keys[0])) })
            })
        }
        let values = rows.values
        var output = RowTable(columns: fields.map(\.name), reservingRows: values.count)
        for row in values {
            for field in fields { output.append(row[path: field.source] ?? .null) }
            output.finishRow()
        }
        return .table(output)
    }

    /// The sources of the selected fields that later steps read.
    func fieldsRead(toProduce output: FieldSelection) -> FieldSelection {
        fields.reduce(.nothing) { read, field in
            output[field.name].map { read.union(.at(field.source, $0)) } ?? read
        }
    }
}

/// `filter`: keeps the rows whose field compares true. Numbers compare as numbers, strings by
/// bytes; values of different kinds are never ordered and never equal.
///
///     {"type": "filter", "field": "quantity", "op": "gt", "value": 0}
struct Filter: Transform {
    enum Operator: String, CaseIterable {
        case eq, ne, lt, le, gt, ge, exists, missing
    }

    let field: FieldPath
    let op: Operator
    let value: JSONValue

    static func make(_ config: inout ConfigReader) -> (any Transform)? {
        let field = config.fieldPath("field", required: true)
        let opName = config.choice("op", of: Operator.allCases.map(\.rawValue), required: true)
        let value = config.value("value")
        guard let field, let op = opName.flatMap(Operator.init(rawValue:)) else { return nil }
        let needsValue = op != .exists && op != .missing
        if needsValue, value == nil { config.report("operator \"\(op.rawValue)\" needs a \"value\"") }
        if !needsValue, value != nil { config.report("operator \"\(op.rawValue)\" takes no \"value\"", at: "value") }
        guard needsValue == (value != nil) else { return nil }
        return Filter(field: field, op: op, value: value ?? .null)
    }

    func apply(_ rows: Rows) throws -> Rows {
        switch rows {
        case .values(let values): .values(values.filter { keeps($0[path: field]) })
        case .tables(let tables): .tables(tables.map { table in table.filter { keeps(table.value(at: field, row: $0)) } })
        }
    }

    func fieldsRead(toProduce output: FieldSelection) -> FieldSelection {
        output.union(.at(field, .everything))
    }

    private func keeps(_ actual: JSONValue?) -> Bool {
        switch op {
        case .exists: return actual != nil && actual != .null
        case .missing: return actual == nil || actual == .null
        case .eq: return actual.map { Self.compare($0, value) == 0 } ?? false
        case .ne: return actual.map { Self.compare($0, value) != 0 } ?? true
        case .lt: return actual.flatMap { Self.compare($0, value) }.map { $0 < 0 } ?? false
        case .le: return actual.flatMap { Self.compare($0, value) }.map { $0 <= 0 } ?? false
        case .gt: return actual.flatMap { Self.compare($0, value) }.map { $0 > 0 } ?? false
        case .ge: return actual.flatMap { Self.compare($0, value) }.map { $0 >= 0 } ?? false
        }
    }

    /// -1, 0 or 1; `nil` when the two cannot be ordered.
    static func compare(_ a: JSONValue, _ b: JSONValue) -> Int? {
        switch (a, b) {
        case (.int(let x), .int(let y)): return x < y ? -1 : (x > y ? 1 : 0)
        case (.int, .double), (.double, .int), (.double, .double):
            guard let x = a.asDouble, let y = b.asDouble else { return nil }
            return x < y ? -1 : (x > y ? 1 : 0)
        case (.string(let x), .string(let y)):
            return x.utf8.lexicographicallyPrecedes(y.utf8) ? -1 : (x.utf8.elementsEqual(y.utf8) ? 0 : 1)
        default:
            return a == b ? 0 : nil
        }
    }
}

/// `cast`: converts fields to `string`, `int`, `float` or `bool` (`JSONValue.converted(to:)`). A value that does not convert
/// fails the run (`"on_error": "fail"`, the default) or becomes `null` (`"on_error": "null"`).
///
///     {"type": "cast", "fields": {"quantity": "int"}}
struct Cast: Transform {
    typealias Target = ScalarType

    let fields: [(name: String, target: Target)]
    let failOnError: Bool

    static func make(_ config: inout ConfigReader) -> (any Transform)? {
        let map = config.stringMap("fields", required: true)
        let onError = config.choice("on_error", of: ["fail", "null"], default: "fail")
        guard let map else { return nil }
        var fields: [(name: String, target: Target)] = []
        for (name, typeName) in map {
            guard let target = Target(rawValue: typeName) else {
                config.report("unknown type \"\(typeName)\" for \(name) (known: \(Target.allCases.map(\.rawValue).joined(separator: ", ")))", at: "fields")
                continue
            }
            fields.append((name, target))
        }
        return fields.count == map.count ? Cast(fields: fields, failOnError: onError == "fail") : nil
    }

    func apply(_ rows: Rows) throws -> Rows {
        switch rows {
        case .values(let values):
            return .values(try values.map { row in
                guard case .object(var object) = row else { throw TransformFailed(step: "cast", message: "row is a \(row.kindName), not an object") }
                for field in fields {
                    if let value = object[field.name] { object[field.name] = try converted(value, field) }
                }
                return .object(object)
            })
        case .tables(let tables):
            return .tables(try tables.map { table in
                var table = table
                for field in fields {
                    guard let column = table.columns.firstIndex(of: field.name) else { continue }
                    for row in 0..<table.count {
                        let value = table.value(of: table[row, column])
                        let result = try converted(value, field)
                        if result != value { table.set(table.cell(for: result), row: row, column: column) }
                    }
                }
                return table
            })
        }
    }

    /// `value` cast for `field`; null stays null.
    private func converted(_ value: JSONValue, _ field: (name: String, target: Target)) throws -> JSONValue {
        guard value != .null else { return .null }
        if let converted = value.converted(to: field.target) { return converted }
        guard failOnError else { return .null }
        throw TransformFailed(step: "cast", message: "cannot cast \(field.name) = \(JSONWriter.string(value).prefix(80)) to \(field.target.rawValue) (set \"on_error\": \"null\" to keep such rows with null)")
    }

    /// The cast fields are read even when no later step reads them: a failed cast fails the run.
    func fieldsRead(toProduce output: FieldSelection) -> FieldSelection {
        fields.reduce(output) { $0.union(.keys([$1.name: .everything])) }
    }
}

extension JSONValue {
    fileprivate var asDouble: Double? {
        switch self {
        case .int(let integer): Double(integer)
        case .double(let double): double
        default: nil
        }
    }
}
