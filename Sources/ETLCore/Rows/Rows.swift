/// The rows of a batch as they pass between stages: any JSON values, or a table of named columns
/// once a step such as `select` has given every row the same ones.
public enum Rows: Sendable {
    case values([JSONValue])
    case table(RowTable)

    public var count: Int {
        switch self {
        case .values(let values): values.count
        case .table(let table): table.count
        }
    }

    public var isEmpty: Bool { count == 0 }

    /// The rows of `parts` one after the other: a table when all are tables of the same columns.
    public init(concatenating parts: [Rows]) {
        var tables: [RowTable] = []
        for case .table(let table) in parts where table.columns == tables.first?.columns ?? table.columns { tables.append(table) }
        if let first = tables.first, tables.count == parts.count {
            self = .table(RowTable(columns: first.columns, concatenating: tables))
        } else {
            self = .values(parts.flatMap(\.values))
        }
    }

    /// Every row as a value; a table's rows become objects keyed by its columns.
    public var values: [JSONValue] {
        switch self {
        case .values(let values): values
        case .table(let table): table.values
        }
    }
}

extension Rows: Equatable {
    /// Rows are equal when their values are, however they are stored.
    public static func == (a: Rows, b: Rows) -> Bool { a.values == b.values }
}
