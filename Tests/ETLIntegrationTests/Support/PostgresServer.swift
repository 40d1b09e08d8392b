import Foundation
import Logging
import PostgresNIO
import Testing

/// A database of a test, and how to run a statement on it.
struct TestDatabase: Sendable {
    let url: String
    let execute: @Sendable (String) async throws -> Void

    init(url: String, execute: @escaping @Sendable (String) async throws -> Void) {
        self.url = url
        self.execute = execute
    }

    func execute(_ sql: String) async throws { try await execute(sql) }
}

/// One real PostgreSQL for the whole test process, with a fresh database per test: the server at
/// `POSTGRES_URL` when that is set, else a private one from Debian's `postgresql` on a free loopback
/// port, started by `scripts/postgres-local`, which stops it once this process has ended.
final class PostgresServer: Sendable {
    static let password = "etl-local-password"
    static let unavailableComment: Comment = "needs PostgreSQL: apt-get install postgresql, or set POSTGRES_URL (scripts/test installs it)"

    /// In CI the PostgreSQL tests always run, and fail without a server.
    static var isAvailable: Bool {
        let environment = ProcessInfo.processInfo.environment
        return environment["CI"] != nil || environment["POSTGRES_URL"] != nil
            || ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
                .contains { FileManager.default.isExecutableFile(atPath: "/usr/lib/postgresql/\($0)/bin/initdb") }
    }

    /// `postgres://etl:…@127.0.0.1:PORT/postgres?sslmode=disable`: the maintenance database.
    let url: String

    private init(url: String) { self.url = url }

    private static let starting = Task { () throws -> PostgresServer in
        if let url = ProcessInfo.processInfo.environment["POSTGRES_URL"], !url.isEmpty { return PostgresServer(url: url) }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("etl-postgres-\(UUID().uuidString)").path
        let result = try await Subprocess.run(["start", directory, String(getpid())], executable: script, in: URL(fileURLWithPath: "/"))
        guard result.status == 0, let line = result.stdout.split(separator: "\n").last(where: { $0.hasPrefix("export POSTGRES_URL=") }) else {
            throw TestFailure("could not start PostgreSQL with \(script): \(result.output)")
        }
        return PostgresServer(url: String(line.dropFirst("export POSTGRES_URL=".count)))
    }

    static func shared() async throws -> PostgresServer { try await starting.value }

    private static var script: String { Subprocess.packageRoot.appendingPathComponent("scripts/postgres-local").path }

    /// A new database on the server: its url for `etl`, and a statement runner.
    func freshDatabase() async throws -> TestDatabase {
        let name = "etl_test_\(UUID().uuidString.prefix(8).lowercased())"
        try await Self.run("CREATE DATABASE \(name)", url: url)
        var components = URLComponents(string: url)!
        components.path = "/" + name
        let databaseURL = components.string!
        return TestDatabase(url: databaseURL) { sql in try await Self.run(sql, url: databaseURL) }
    }

    /// Runs one statement on a connection of its own.
    static func run(_ sql: String, url: String) async throws {
        let components = URLComponents(string: url)!
        let configuration = PostgresConnection.Configuration(host: components.host!, port: components.port ?? 5432, username: components.user!,
                                                             password: components.password, database: String(components.path.dropFirst()), tls: .disable)
        let logger = Logger(label: "postgres-test")
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        do {
            _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).collect()
        } catch {
            try? await connection.close()
            throw TestFailure("\(String(reflecting: error)) running \(sql.prefix(200))")
        }
        try await connection.close()
    }
}
