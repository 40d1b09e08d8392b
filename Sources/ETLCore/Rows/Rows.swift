/// The rows of a batch as they pass between stages: any JSON values, or tables of named columns
/// once a step such as `select` has given every row the same ones.
public enum Rows: Sendable {
    case values([JSONValue])
    /// Tables of the same columns, their rows one after the other. A batch of pages keeps each
    /// page's table as it was decoded: the batch is never copied into one table.
    case tables([RowTable])

    /// The rows of one table.
    public static func table(_ table: RowTable) -> Rows { .tables([table]) }

    public var count: Int {
        switch self {
        case .values(let values): values.count
        case .tables(let tables): tables.reduce(0) { $0 + $1.count }
        }
    }

    public var isEmpty: Bool { count == 0 }

    /// The rows of `parts` one after the other: their tables, not copied, when all parts are
    /// tables of the same columns; values otherwise.
    public init(concatenating parts: [Rows]) {
        var tables: [RowTable] = []
        var allTables = true
        for part in parts {
            guard case .tables(let partTables) = part else { allTables = false; break }
            tables += partTables
        }
        if allTables, let columns = tables.first?.columns, tables.allSatisfy({ $0.columns == columns }) {
            self = .tables(tables)
        } else {
            self = .values(parts.flatMap(\.values))
        }
    }

    /// The tables, moved out of these rows, which are left empty; `nil` for values, which stay.
    /// Holding the only reference, the caller can free each table once it is done with it.
    public mutating func takeTables() -> [RowTable]? {
        guard case .tables(let tables) = self else { return nil }
        self = .values([])
        return tables
    }

    /// Every row as a value; a table's rows become objects keyed by its columns.
    public var values: [JSONValue] {
        switch self {
        case .values(let values): values
        case .tables(let tables): tables.flatMap(\.values)
        }
    }
}

extension Rows: Equatable {
    /// Rows are equal when their values are, however they are stored.
    public static func == (a: Rows, b: Rows) -> Bool { a.values == b.values }
}
