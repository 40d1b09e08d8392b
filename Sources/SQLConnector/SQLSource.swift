import ETLCore
import Foundation
import GRDB

/// `sql` source: the rows of a table (or of a `query`) of an operational database, read in key
/// order by keyset pagination (`WHERE key > last ORDER BY key LIMIT n`, never OFFSET), in one
/// consistent snapshot per run: a read transaction held from the first page to the last.
///
/// `url` is `sqlite:PATH` (opened read-only) or `postgres://USER:PASSWORD@HOST:PORT/DB` (one
/// `REPEATABLE READ READ ONLY` transaction; `sslmode` disable, prefer or require). With `cursor_column` the
/// source is incremental: rows come in (cursor column, key) order, and the cursor holds the last
/// cursor value with the keys of the rows read on it, so that a later run reads rows whose value
/// is greater, or equal and not yet read (rows updated or inserted on the boundary are read once).
/// Rows whose cursor value is NULL are read only by a run from the start.
public struct SQLSource: Source {
    let location: SQLLocation
    /// Where the url came from (a variable's name), for errors that must not show it.
    let urlOrigin: String
    /// The table, when the source reads one.
    let table: String?
    /// The quoted table name, or the query as a subquery.
    let relation: String
    let describedRelation: String
    let key: String
    let cursorColumn: String?
    let batchSize: Int

    public var isIncremental: Bool { cursorColumn != nil }

    public static func register(into registry: inout ComponentRegistry) {
        registry.registerSource("sql") { config in
            let url = config.secret("url", required: true)
            let table = config.string("table")
            let query = config.string("query")
            let key = config.string("key")
            let cursorColumn = config.string("cursor_column")
            let batchSize = config.int("batch_size", default: 1000, in: 1...1_000_000)
            let location = url.flatMap { url -> SQLLocation? in
                switch SQLLocation.parse(url.value) {
                case .success(let location): return location
                case .failure(let problem):
                    config.report("the url (\(url.origin)) \(problem.reason)", at: "url")
                    return nil
                }
            }
            switch (table, query) {
            case (nil, nil): config.report("name the rows to read: \"table\" (a table name) or \"query\" (a SELECT)")
            case (_?, _?): config.report("give \"table\" or \"query\", not both")
            default: break
            }
            for (name, value) in [("table", table), ("key", key), ("cursor_column", cursorColumn)] {
                if let value, !ConfigReader.isPlainName(value) { config.report("\"\(value)\" is not a plain column or table name (letters, digits and _)", at: name) }
            }
            if query != nil, key == nil { config.report("a \"query\" needs \"key\": the unique column its rows are read in order of") }
            guard let location, let relation = table.map(quoted) ?? query.map({ "(\($0))" }) else { return nil }
            return SQLSource(location: location, urlOrigin: url?.origin ?? "url", table: table, relation: relation,
                             describedRelation: table.map { "table \($0)" } ?? "the query", key: key ?? "", cursorColumn: cursorColumn, batchSize: batchSize)
        }
    }

    static func quoted(_ name: String) -> String { "\"\(name)\"" }

    public func openReader(after cursor: JSONValue?, fields: FieldSelection, context: StageContext) async throws -> any SourceReader {
        let cursor = try SQLCursor(cursor, incremental: isIncremental, relation: describedRelation)
        switch location {
        case .sqlite(let path):
            return try SQLiteReader(source: self, path: path, cursor: cursor)
        case .postgres(let location):
            return try await PostgresReader.open(source: self, location: location, secretOrigin: urlOrigin, cursor: cursor, logger: context.logger)
        }
    }
}

/// Where the database is.
enum SQLLocation: Sendable, Equatable {
    case sqlite(path: String)
    case postgres(PostgresLocation)

    static func parse(_ url: String) -> Result<SQLLocation, SQLURLProblem> {
        if url.hasPrefix("sqlite:") {
            var path = String(url.dropFirst("sqlite:".count))
            if path.hasPrefix("//") { path = String(path.dropFirst(2)) }  // sqlite:///abs/path
            return path.isEmpty ? .failure(SQLURLProblem("names no file (sqlite:PATH)")) : .success(.sqlite(path: path))
        }
        return PostgresLocation.parse(url).map(SQLLocation.postgres)
    }
}

/// Keyset pagination over the relation, the same for every database but for the placeholder
/// syntax: the next page's query after the cursor, and the cursor after a page.
struct SQLPaging {
    let source: SQLSource
    /// The key column (the table's primary key when the file names none).
    let key: String
    private(set) var cursor: SQLCursor?
    /// The placeholder of the n-th (1-based) bound value: `?` or `$n`.
    let placeholder: (Int) -> String

    /// The most rows on one cursor value the cursor keeps (their keys are bound into each page query).
    static let maximumBoundary = 20_000

    init(source: SQLSource, key: String, cursor: SQLCursor?, placeholder: @escaping (Int) -> String) {
        self.source = source
        self.key = key
        self.cursor = cursor
        self.placeholder = placeholder
    }

    /// The next page after `cursor`, with every value bound, never spliced.
    func pageQuery() -> (String, [JSONValue]) {
        let key = SQLSource.quoted(key)
        let select = "SELECT * FROM \(source.relation) AS etl_source"
        let limit = " LIMIT \(source.batchSize)"
        var arguments: [JSONValue] = []
        func bind(_ value: JSONValue) -> String {
            arguments.append(value)
            return placeholder(arguments.count)
        }
        guard let column = source.cursorColumn.map(SQLSource.quoted) else {
            guard let last = cursor?.key else { return (select + " ORDER BY \(key)" + limit, []) }
            let condition = " WHERE \(key) > \(bind(last))"
            return (select + condition + " ORDER BY \(key)" + limit, arguments)
        }
        let order = " ORDER BY \(column), \(key)"
        guard let cursor else { return (select + order + limit, []) }
        let condition: String
        if let value = cursor.value, value != .null {
            let above = "\(column) > \(bind(value))"
            let on = "\(column) = \(bind(value))"
            condition = "\(above) OR (\(on)\(notOnBoundary(bind)))"
        } else {
            condition = "\(column) IS NOT NULL OR (\(column) IS NULL\(notOnBoundary(bind)))"
        }
        return (select + " WHERE \(condition)" + order + limit, arguments)
    }

    private func notOnBoundary(_ bind: (JSONValue) -> String) -> String {
        guard let boundary = cursor?.boundary, !boundary.isEmpty else { return "" }
        return " AND \(SQLSource.quoted(key)) NOT IN (\(boundary.map(bind).joined(separator: ", ")))"
    }

    /// The batch of a page, moving the cursor past it; nil for an empty page.
    mutating func batch(of page: RowTable) throws -> SourceBatch? {
        guard page.count > 0 else { return nil }
        let last = page.count - 1
        func valueOf(_ column: String, _ row: Int) -> JSONValue {
            page.columns.firstIndex(of: column).map { page.value(of: page[row, $0]) } ?? .null
        }
        if let cursorColumn = source.cursorColumn {
            let value = valueOf(cursorColumn, last)
            var boundary = cursor?.value == value ? cursor?.boundary ?? [] : []
            boundary += (0..<page.count).filter { valueOf(cursorColumn, $0) == value }.map { valueOf(key, $0) }
            guard boundary.count <= Self.maximumBoundary else {
                throw ETLError(.stageFailed, "sql source: more than \(Self.maximumBoundary) rows of \(source.describedRelation) share the \(cursorColumn) value \(JSONWriter.string(value).prefix(40)), and each is kept in the cursor to read it once; choose a cursor_column with finer values (a timestamp with fractions, a version counter)")
            }
            cursor = SQLCursor(value: value, boundary: boundary)
        } else {
            cursor = SQLCursor(key: valueOf(key, last))
        }
        var rows = page
        rows.trimCapacity()
        return SourceBatch(rows: .table(rows), records: page.count, cursor: cursor!.json)
    }
}

/// Where a read stands: after the row with key `key` (plain), or after the rows on cursor value
/// `value` whose keys are `boundary` (incremental).
struct SQLCursor: Equatable {
    var value: JSONValue?
    var key: JSONValue?
    var boundary: [JSONValue] = []

    init(value: JSONValue? = nil, key: JSONValue? = nil, boundary: [JSONValue] = []) {
        self.value = value
        self.key = key
        self.boundary = boundary
    }

    init?(_ json: JSONValue?, incremental: Bool, relation: String) throws {
        guard let json else { return nil }
        guard case .object(let object) = json else { throw Self.unreadable(json, relation) }
        if incremental {
            guard let value = object["last_value"], case .array(let boundary)? = object["boundary"] else { throw Self.unreadable(json, relation) }
            self.init(value: value, boundary: boundary)
        } else {
            guard let key = object["last_key"] else { throw Self.unreadable(json, relation) }
            self.init(key: key)
        }
    }

    var json: JSONValue {
        if let key { return .object(JSONObject([("last_key", key)])) }
        return .object(JSONObject([("last_value", value ?? .null), ("boundary", .array(boundary))]))
    }

    static func unreadable(_ json: JSONValue, _ relation: String) -> ETLError {
        ETLError(.stageFailed, "sql source: the saved cursor \(JSONWriter.string(json).prefix(80)) does not fit \(relation) (the pipeline's key or cursor_column changed?); start over with `etl run PIPELINE --full-refresh`")
    }
}

/// Reads pages from SQLite inside one read transaction.
final class SQLiteReader: SourceReader {
    private let source: SQLSource
    private let path: String
    private let database: DatabaseQueue
    private var paging: SQLPaging
    let expectedTotal: Int? = nil

    init(source: SQLSource, path: String, cursor: SQLCursor?) throws {
        self.source = source
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else {
            throw ETLError(.stageFailed, "sql source: no SQLite database at \(path); check the url (sqlite:PATH)")
        }
        var configuration = Configuration()
        configuration.readonly = true
        configuration.allowsUnsafeTransactions = true  // the run's snapshot spans every page
        configuration.busyMode = .timeout(10)
        configuration.label = "etl.sql-source"
        do {
            database = try DatabaseQueue(path: path, configuration: configuration)
        } catch {
            throw ETLError(.stageFailed, "sql source: cannot open the SQLite database \(path) (\(error)); check the url and that the file is a SQLite database")
        }
        let key = try database.inDatabase { db in
            try db.execute(sql: "BEGIN DEFERRED TRANSACTION")
            let key = source.key.isEmpty ? try Self.primaryKey(of: source, in: db) : source.key
            let columns = try Self.columns(of: source, in: db)
            for (option, column) in [("key", key), ("cursor_column", source.cursorColumn)] {
                if let column, !columns.contains(column) {
                    throw ETLError(.stageFailed, "sql source: \(source.describedRelation) has no column \"\(column)\" (\(option)); its columns: \(columns.joined(separator: ", "))")
                }
            }
            return key
        }
        paging = SQLPaging(source: source, key: key, cursor: cursor, placeholder: { _ in "?" })
    }

    deinit {
        try? database.inDatabase { db in if db.isInsideTransaction { try db.execute(sql: "ROLLBACK") } }
    }

    /// The columns of the relation (a query that fails here is reported with SQLite's words).
    private static func columns(of source: SQLSource, in db: Database) throws -> [String] {
        do {
            return try db.makeStatement(sql: "SELECT * FROM \(source.relation) LIMIT 0").columnNames
        } catch let error as DatabaseError {
            let hint = source.relation.hasPrefix("\"") ? "check the table name" : "check the query"
            throw ETLError(.stageFailed, "sql source: cannot read \(source.describedRelation): \(error.message ?? "\(error)"); \(hint)")
        }
    }

    /// The table's one-column primary key, when `key` is not given.
    private static func primaryKey(of source: SQLSource, in db: Database) throws -> String {
        let table = String(source.relation.dropFirst().dropLast())
        _ = try columns(of: source, in: db)
        let key = try Row.fetchAll(db, sql: "SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", arguments: [table]).map { $0["name"] as String }
        guard key.count == 1 else {
            throw ETLError(.stageFailed, "sql source: table \(table) has \(key.isEmpty ? "no primary key" : "a primary key of \(key.count) columns"); name the unique column to read it in order of as \"key\"")
        }
        return key[0]
    }

    func next() async throws -> SourceBatch? {
        let (sql, values) = paging.pageQuery()
        let arguments = StatementArguments(values.map(Self.databaseValue))
        let page: RowTable = try database.inDatabase { db in
            do {
                let cursor = try Row.fetchCursor(db, sql: sql, arguments: arguments)
                var page = RowTable(columns: cursor.columnNames, reservingRows: paging.source.batchSize)
                while let row = try cursor.next() { try Self.append(row, to: &page) }
                return page
            } catch let error as DatabaseError {
                throw ETLError(.stageFailed, "sql source: reading \(source.describedRelation) of \(path) failed: \(error.message ?? "\(error)")")
            }
        }
        return try paging.batch(of: page)
    }

    private static func databaseValue(_ value: JSONValue) -> DatabaseValue {
        switch value {
        case .int(let int): int.databaseValue
        case .double(let double): double.databaseValue
        case .string(let string): string.databaseValue
        case .bool(let bool): bool.databaseValue
        default: .null
        }
    }

    /// A row as an object, columns in order. SQLite's storage classes map to JSON values:
    /// INTEGER → integer, REAL → number, TEXT → string, NULL → null; a BLOB has no JSON value.
    /// A row's values as one row of `page`: INTEGER, REAL, TEXT and NULL as JSON integers,
    /// numbers, strings and null.
    private static func append(_ row: Row, to page: inout RowTable) throws {
        for (column, value) in row {
            switch value.storage {
            case .null: page.append(RowTable.Cell.null)
            case .int64(let int): page.append(RowTable.Cell.int(int))
            case .double(let double): page.append(RowTable.Cell.double(double))
            case .string(let string): page.append(page.cell(for: .string(string)))
            case .blob:
                throw ETLError(.stageFailed, "sql source: column \"\(column)\" holds a BLOB, which has no JSON value; select it as text or hex in a \"query\" (e.g. hex(\(column)))")
            }
        }
        page.finishRow()
    }
}
