/// A report query as written, split once at load time into text, placeholders and optional
/// `[[ … ]]` sections, so that rendering a request's query never searches the text again.
enum ReportTemplate {
    indirect enum Segment: Sendable, Equatable {
        case text(String)
        case placeholder(String)
        /// Left out when a parameter placeholder in it has no value.
        case optional([Segment])
    }

    struct Problem: Error {
        let message: String
    }

    /// `{name}` is a placeholder when `name` is a plain name; any other `{` is text. Without
    /// `optionalSections`, `[[` and `]]` are text too (SQL that is not a report's, where they may
    /// be nested arrays).
    static func parse(_ query: String, optionalSections: Bool = true) -> Result<[Segment], Problem> {
        var top: [Segment] = []
        var section: [Segment]?
        var text = ""
        var rest = Substring(query)
        func flush() {
            guard !text.isEmpty else { return }
            if section != nil { section!.append(.text(text)) } else { top.append(.text(text)) }
            text = ""
        }
        while let character = rest.first {
            if optionalSections, rest.hasPrefix("[[") {
                guard section == nil else { return .failure(Problem(message: "optional sections [[ ... ]] cannot be nested")) }
                flush()
                section = []
                rest = rest.dropFirst(2)
            } else if optionalSections, rest.hasPrefix("]]") {
                guard section != nil else { return .failure(Problem(message: "]] closes no [[ section")) }
                flush()
                top.append(.optional(section!))
                section = nil
                rest = rest.dropFirst(2)
            } else if character == "{", let close = rest.firstIndex(of: "}"), ConfigReader.isPlainName(String(rest[rest.index(after: rest.startIndex)..<close])) {
                flush()
                let placeholder = Segment.placeholder(String(rest[rest.index(after: rest.startIndex)..<close]))
                if section != nil { section!.append(placeholder) } else { top.append(placeholder) }
                rest = rest[rest.index(after: close)...]
            } else {
                text.append(character)
                rest = rest.dropFirst()
            }
        }
        guard section == nil else { return .failure(Problem(message: "a [[ section is not closed with ]]")) }
        flush()
        return .success(top)
    }

    /// Every placeholder name, and those outside optional sections.
    static func placeholders(_ segments: [Segment]) -> (all: Set<String>, outsideOptional: Set<String>) {
        var all = Set<String>()
        var outside = Set<String>()
        for segment in segments {
            switch segment {
            case .text: break
            case .placeholder(let name):
                all.insert(name)
                outside.insert(name)
            case .optional(let inner):
                all.formUnion(placeholders(inner).all)
            }
        }
        return (all, outside)
    }

    /// The SQL of `segments`: each placeholder replaced by `names` (SQL text such as the quoted
    /// table) or else by `literal` of its argument; an optional section is kept when every
    /// placeholder in it has a name or an argument.
    static func render(_ segments: [Segment], names: [String: String], arguments: ReportArguments, literal: (ReportValue?) -> String) -> String {
        var sql = ""
        for segment in segments {
            switch segment {
            case .text(let text): sql += text
            case .placeholder(let name): sql += names[name] ?? literal(arguments.values[name])
            case .optional(let inner):
                let given = placeholders(inner).all.allSatisfy { names[$0] != nil || arguments.values[$0] != nil }
                if given { sql += render(inner, names: names, arguments: arguments, literal: literal) }
            }
        }
        return sql
    }
}

/// `{name}` placeholders in SQL that is not a report query (a ClickHouse migration), found as in
/// report queries but without optional sections.
public enum SQLTemplate {
    public struct UnknownPlaceholder: Error, Sendable, CustomStringConvertible {
        public let name: String
        public let known: [String]
        public var description: String {
            "{\(name)} is not a placeholder (known: \(known.sorted().map { "{\($0)}" }.joined(separator: ", ")))"
        }
    }

    /// `sql` with each placeholder replaced by its value in `values` (SQL text, inserted as it is).
    public static func fill(_ sql: String, with values: [String: String]) throws(UnknownPlaceholder) -> String {
        guard case .success(let segments) = ReportTemplate.parse(sql, optionalSections: false) else {
            preconditionFailure("only optional sections make a template unparseable")
        }
        if let unknown = ReportTemplate.placeholders(segments).all.sorted().first(where: { values[$0] == nil }) {
            throw UnknownPlaceholder(name: unknown, known: Array(values.keys))
        }
        // Every placeholder has a value, so no argument literal is ever asked for.
        return ReportTemplate.render(segments, names: values, arguments: .none, literal: { _ in "NULL" })
    }
}

/// One field of a report's answer objects.
public indirect enum ReportField: Sendable, Equatable {
    public typealias ValueType = ScalarType

    /// `name` from the query's `column`, converted to `type` when one is declared.
    case column(name: String, column: String, type: ValueType?)
    /// `name` holds an object of fields.
    case object(name: String, fields: [ReportField])

    public var name: String {
        switch self {
        case .column(let name, _, _), .object(let name, _): name
        }
    }

    static func shape(_ row: JSONObject, fields: [ReportField], rankField: String?, rank: Int?, report: String) throws(ReportShapeError) -> JSONObject {
        var object = JSONObject(minimumCapacity: fields.count)
        for field in fields {
            switch field {
            case .object(let name, let inner):
                object.appendUnchecked(name, .object(try shape(row, fields: inner, rankField: rankField, rank: rank, report: report)))
            case .column(let name, let column, let type):
                if column == rankField, let rank {
                    object.appendUnchecked(name, .int(Int64(rank)))
                    continue
                }
                guard let value = row[column] else {
                    throw ReportShapeError(report: report, problem: "the query returns no column \"\(column)\" (it returns \(row.keys.map { "\"\($0)\"" }.joined(separator: ", ")))")
                }
                guard let type else {
                    object.appendUnchecked(name, value)
                    continue
                }
                guard let converted = value.converted(to: type) else {
                    throw ReportShapeError(report: report, problem: "column \"\(column)\" holds \(JSONWriter.string(value)), which is not a \(type.rawValue)")
                }
                object.appendUnchecked(name, converted)
            }
        }
        return object
    }

    /// A list of column names, or an object of output names to a column name, a
    /// `{"column", "type"}` or an `{"object": {...}}`.
    static func read(_ value: JSONValue?, at key: String, _ config: inout ConfigReader) -> [ReportField] {
        switch value {
        case nil: return []
        case .array(let items)?:
            let names = items.compactMap { if case .string(let text) = $0 { text } else { nil } }
            guard !names.isEmpty, names.count == items.count else {
                config.report("expected a non-empty array of field names, or an object of fields", at: key)
                return []
            }
            return names.map { .column(name: $0, column: $0, type: nil) }
        case .object(let object)? where !object.isEmpty:
            var fields: [ReportField] = []
            for field in object.fields {
                let (name, declaration) = (field.key, field.value)
                let at = "\(key).\(name)"
                switch declaration {
                case .string(let column):
                    fields.append(.column(name: name, column: column, type: nil))
                case .object(let inner) where inner["object"] != nil && inner.fields.count == 1:
                    let nested = read(inner["object"], at: at + ".object", &config)
                    if !nested.isEmpty { fields.append(.object(name: name, fields: nested)) }
                case .object(let inner):
                    guard case .string(let column)? = inner["column"], inner.keys.allSatisfy({ ["column", "type"].contains($0) }) else {
                        config.report("expected {\"column\": \"...\", \"type\": \"...\"} or {\"object\": {...}}", at: at)
                        continue
                    }
                    var type: ValueType?
                    if let typeValue = inner["type"] {
                        guard case .string(let typeName) = typeValue, let known = ValueType(rawValue: typeName) else {
                            config.report("type must be one of \(ValueType.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))", at: at)
                            continue
                        }
                        type = known
                    }
                    fields.append(.column(name: name, column: column, type: type))
                default:
                    config.report("expected a column name, {\"column\", \"type\"} or {\"object\": {...}}", at: at)
                }
            }
            return fields
        default:
            config.report("expected a non-empty array of field names, or an object of fields", at: key)
            return []
        }
    }
}

extension ReportValue {
    /// The value as a request gave it (for messages).
    public var text: String {
        switch self {
        case .string(let text), .date(let text), .uuid(let text): text
        case .int(let integer): String(integer)
        case .list(let values): values.map(\.text).joined(separator: ",")
        }
    }
}
