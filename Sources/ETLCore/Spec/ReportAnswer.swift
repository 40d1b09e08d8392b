/// The shape of a report's answer.
public enum ReportAnswer: Sendable, Equatable {
    case list
    case object
    case wrapped(ReportWrapping)
}

/// An answer object, `{"wrap": "sites", "echo": ["from", "to"], "group_by": ["site_id"], "items": "days"}`:
/// the echoed parameters' values as the request gave them (null when not given), then the rows
/// under the `wrap` key, grouped when `group_by` is set.
public struct ReportWrapping: Sendable, Equatable {
    public let key: String
    public let echoed: [String]
    public let grouping: ReportGrouping?
}

/// Rows with equal values of `fields` become one object: those fields, then under `items` the
/// array of the rows' other fields. Groups come in the order of their first row, so the query's
/// `ORDER BY` orders both the groups and the rows within each.
public struct ReportGrouping: Sendable, Equatable {
    public let fields: [String]
    public let items: String
}

extension ReportSpec {
    /// The answer to one request from the query's rows, shaped as `answer` declares; nil for an
    /// `object` answer without a row (a 404 with `notFoundMessage`).
    public func answer(rows: [JSONObject], arguments: ReportArguments) throws(ReportShapeError) -> JSONValue? {
        switch answer {
        case .list:
            return .array(try rows.map { row throws(ReportShapeError) in .object(try shape(row)) })
        case .object:
            return try rows.first.map { row throws(ReportShapeError) in .object(try shape(row)) }
        case .wrapped(let wrapping):
            var object = JSONObject(minimumCapacity: wrapping.echoed.count + 1)
            for name in wrapping.echoed {
                object.appendUnchecked(name, arguments.values[name].map(\.json) ?? .null)
            }
            let shaped = try rows.map { row throws(ReportShapeError) in try shape(row) }
            object.appendUnchecked(wrapping.key, .array(wrapping.grouping.map { Self.group(shaped, by: $0) } ?? shaped.map(JSONValue.object)))
            return .object(object)
        }
    }

    private static func group(_ rows: [JSONObject], by grouping: ReportGrouping) -> [JSONValue] {
        var groups: [(head: JSONObject, items: [JSONValue])] = []
        var indexByKey: [String: Int] = [:]
        for row in rows {
            var head = JSONObject(minimumCapacity: grouping.fields.count + 1)
            var item = JSONObject(minimumCapacity: row.fields.count)
            for field in row.fields {
                if grouping.fields.contains(field.key) { head.appendUnchecked(field.key, field.value) } else { item.appendUnchecked(field.key, field.value) }
            }
            let key = JSONWriter.string(.object(head))
            if let index = indexByKey[key] {
                groups[index].items.append(.object(item))
            } else {
                indexByKey[key] = groups.count
                groups.append((head, [.object(item)]))
            }
        }
        return groups.map { group in
            var object = group.head
            object.appendUnchecked(grouping.items, .array(group.items))
            return .object(object)
        }
    }
}

extension ReportValue {
    /// The value as an answer echoes it.
    var json: JSONValue {
        switch self {
        case .string(let text), .date(let text), .uuid(let text): .string(text)
        case .int(let integer): .int(integer)
        case .list(let values): .array(values.map(\.json))
        }
    }
}
