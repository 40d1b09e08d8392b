import ETLCore
import Foundation
import Logging
import NIOSSL
import PostgresNIO

/// Where a PostgreSQL database is: `postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=MODE`.
struct PostgresLocation: Sendable, Equatable {
    enum SSLMode: String, Sendable, CaseIterable {
        case disable, prefer, require
    }

    let host: String
    let port: Int
    let user: String
    let password: String?
    let database: String
    let sslMode: SSLMode

    /// nil with the reason when `url` is not one.
    static func parse(_ url: String) -> Result<PostgresLocation, SQLURLProblem> {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? ""),
              let host = components.host, !host.isEmpty
        else { return .failure(SQLURLProblem("is not a database URL: use sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DB")) }
        guard let user = components.percentEncodedUser?.removingPercentEncoding, !user.isEmpty else {
            return .failure(SQLURLProblem("names no user (postgres://USER:PASSWORD@HOST:PORT/DB)"))
        }
        let database = String(components.path.dropFirst())
        var sslMode = SSLMode.prefer
        for item in components.queryItems ?? [] {
            guard item.name == "sslmode" else { return .failure(SQLURLProblem("has an unknown parameter \(item.name) (only sslmode is read)")) }
            // libpq's allow/verify-* are read as the nearest mode this client has.
            switch item.value ?? "" {
            case "disable", "allow": sslMode = .disable
            case "prefer": sslMode = .prefer
            case "require", "verify-ca", "verify-full": sslMode = .require
            default: return .failure(SQLURLProblem("has sslmode=\(item.value ?? ""); use disable, prefer or require"))
            }
        }
        return .success(PostgresLocation(host: host, port: components.port ?? 5432, user: user,
                                         password: components.percentEncodedPassword?.removingPercentEncoding,
                                         database: database.isEmpty ? user : database.removingPercentEncoding ?? database, sslMode: sslMode))
    }

    var described: String { "PostgreSQL \(host):\(port)/\(database) as \(user)" }
}

struct SQLURLProblem: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

/// Reads pages from PostgreSQL inside one `REPEATABLE READ READ ONLY` transaction on one
/// connection, so that the run sees one snapshot. Every value is a bind parameter.
final class PostgresReader: SourceReader {
    private let source: SQLSource
    private let location: PostgresLocation
    private let connection: PostgresConnection
    private let logger: Logger
    private var paging: SQLPaging
    let expectedTotal: Int? = nil

    private init(source: SQLSource, location: PostgresLocation, connection: PostgresConnection, logger: Logger, paging: SQLPaging) {
        self.source = source
        self.location = location
        self.connection = connection
        self.logger = logger
        self.paging = paging
    }

    static func open(source: SQLSource, location: PostgresLocation, secretOrigin: String, cursor: SQLCursor?, logger: Logger) async throws -> PostgresReader {
        let tls: PostgresConnection.Configuration.TLS
        switch location.sslMode {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .require: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
        let configuration = PostgresConnection.Configuration(host: location.host, port: location.port, username: location.user,
                                                             password: location.password, database: location.database, tls: tls)
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        } catch {
            throw ETLError(.stageFailed, "sql source: cannot connect to \(location.described): \(Self.describe(error)); \(Self.advice(for: error, secretOrigin: secretOrigin))")
        }
        do {
            try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
            let columns = try await Self.columns(of: source, on: connection, logger: logger)
            var key = source.key
            if key.isEmpty { key = try await Self.primaryKey(of: source, on: connection, logger: logger) }
            for (option, column) in [("key", key), ("cursor_column", source.cursorColumn)] {
                if let column, !columns.contains(column) {
                    throw ETLError(.stageFailed, "sql source: \(source.describedRelation) has no column \"\(column)\" (\(option)); its columns: \(columns.joined(separator: ", "))")
                }
            }
            return PostgresReader(source: source, location: location, connection: connection, logger: logger,
                                  paging: SQLPaging(source: source, key: key, cursor: cursor, placeholder: { "$\($0)" }))
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// The read-only transaction ends with the connection. The callback holds the connection
    /// until it is closed (postgres-nio requires a connection be closed before it is freed).
    deinit {
        let connection = connection
        connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
    }

    private static func columns(of source: SQLSource, on connection: PostgresConnection, logger: Logger) async throws -> [String] {
        do {
            let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT * FROM \(source.relation) AS etl_source LIMIT 1"), logger: logger).collect()
            if let row = rows.first { return row.map(\.columnName) }
            // An empty relation still has its columns: ask the catalogue for a table.
            guard source.table != nil else { return [] }
            return try await connection.query(PostgresQuery(unsafeSQL: "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                                                            binds: bindings([.string(source.relation)])), logger: logger)
                .collect().map { try $0.decode(String.self) }
        } catch let error as PSQLError {
            let hint = source.table != nil ? "check the table name (and the search_path of the user)" : "check the query"
            throw ETLError(.stageFailed, "sql source: cannot read \(source.describedRelation): \(describe(error)); \(hint)")
        }
    }

    private static func primaryKey(of source: SQLSource, on connection: PostgresConnection, logger: Logger) async throws -> String {
        let key = try await connection.query(PostgresQuery(unsafeSQL: """
            SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
            WHERE i.indrelid = $1::regclass AND i.indisprimary
            """, binds: bindings([.string(source.relation)])), logger: logger).collect().map { try $0.decode(String.self) }
        guard key.count == 1 else {
            throw ETLError(.stageFailed, "sql source: \(source.describedRelation) has \(key.isEmpty ? "no primary key" : "a primary key of \(key.count) columns"); name the unique column to read it in order of as \"key\"")
        }
        return key[0]
    }

    func next() async throws -> SourceBatch? {
        let (sql, arguments) = paging.pageQuery()
        let rows: [PostgresRow]
        do {
            rows = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: Self.bindings(arguments)), logger: logger).collect()
        } catch let error as PSQLError {
            throw ETLError(.stageFailed, "sql source: reading \(source.describedRelation) from \(location.described) failed: \(Self.describe(error))")
        }
        var page = RowTable(columns: rows.first.map { $0.map(\.columnName) } ?? [], reservingRows: rows.count)
        for row in rows {
            for cell in row { page.append(try Self.cell(of: cell, in: &page)) }
            page.finishRow()
        }
        return try paging.batch(of: page)
    }

    private static func bindings(_ values: [JSONValue]) -> PostgresBindings {
        var bindings = PostgresBindings(capacity: values.count)
        for value in values {
            switch value {
            case .int(let int): bindings.append(int)
            case .double(let double): bindings.append(double)
            case .string(let string): bindings.append(string)
            case .bool(let bool): bindings.append(bool)
            default: bindings.appendNull()
            }
        }
        return bindings
    }

    /// A value as a cell of `page`, by PostgreSQL type: integers, floats and numeric become
    /// numbers, text types strings (their bytes copied straight in: the connection's encoding is
    /// UTF-8), boolean booleans, dates and timestamps ISO 8601 strings (UTC), uuid strings, json
    /// and jsonb their values.
    private static func cell(of cell: PostgresCell, in page: inout RowTable) throws -> RowTable.Cell {
        guard let bytes = cell.bytes else { return .null }
        switch cell.dataType {
        case .text, .varchar, .bpchar, .name:
            return bytes.withUnsafeReadableBytes { page.stringCell(utf8: $0) }
        default:
            return page.cell(for: try value(of: cell))
        }
    }

    private static func value(of cell: PostgresCell) throws -> JSONValue {
        guard cell.bytes != nil else { return .null }
        do {
            switch cell.dataType {
            case .int2: return .int(Int64(try cell.decode(Int16.self)))
            case .int4: return .int(Int64(try cell.decode(Int32.self)))
            case .int8: return .int(try cell.decode(Int64.self))
            case .float4: return .double(Double(try cell.decode(Float.self)))
            case .float8: return .double(try cell.decode(Double.self))
            case .numeric: return .double(NSDecimalNumber(decimal: try cell.decode(Decimal.self)).doubleValue)
            case .bool: return .bool(try cell.decode(Bool.self))
            case .text, .varchar, .bpchar, .name: return .string(try cell.decode(String.self))
            case .uuid: return .string(try cell.decode(UUID.self).uuidString.lowercased())
            case .date, .timestamp, .timestamptz: return .string(try cell.decode(Date.self).formatted(.iso8601))
            case .json, .jsonb: return try JSONParser.parse(try cell.decode(String.self))
            default:
                throw ETLError(.stageFailed, "sql source: column \"\(cell.columnName)\" has PostgreSQL type \(cell.dataType), which the sql source does not read; cast it in a \"query\" (e.g. \(cell.columnName)::text)")
            }
        } catch let error as ETLError {
            throw error
        } catch {
            throw ETLError(.stageFailed, "sql source: cannot read column \"\(cell.columnName)\" (\(cell.dataType)): \(error)")
        }
    }

    /// PostgreSQL's own message, without the query text.
    static func describe(_ error: any Error) -> String {
        guard let error = error as? PSQLError else { return String(describing: error) }
        if let message = error.serverInfo?[.message] {
            return "\(message)\(error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? "")"
        }
        return "\(error.code)"
    }

    private static func advice(for error: any Error, secretOrigin: String) -> String {
        switch (error as? PSQLError)?.serverInfo?[.sqlState] {
        case "28P01", "28000": "check the user and password in \(secretOrigin)"
        case "3D000": "check the database name in \(secretOrigin)"
        default: "check the host and port in \(secretOrigin) and that the server is up"
        }
    }
}
