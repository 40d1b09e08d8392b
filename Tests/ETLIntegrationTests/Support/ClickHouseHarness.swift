import ClickHouseConnector
import Foundation
import Testing

/// A real ClickHouse for a test: the server at `CLICKHOUSE_URL` when that is set (with a fresh
/// database per test), else a private `clickhouse-server` from Debian's package on a free loopback
/// port, started through `scripts/clickhouse-local`.
final class ClickHouseHarness: @unchecked Sendable {
    /// Tests that need ClickHouse run when it can be had; in CI they always run, and fail without it.
    static var isAvailable: Bool {
        ProcessInfo.processInfo.environment["CI"] != nil || external != nil
            || FileManager.default.isExecutableFile(atPath: "/usr/sbin/clickhouse-server")
            || FileManager.default.isExecutableFile(atPath: "/usr/bin/clickhouse-server")
    }
    static let unavailableComment: Comment = "needs ClickHouse: apt-get install clickhouse-server, or set CLICKHOUSE_URL (scripts/test installs it)"

    /// The server at `CLICKHOUSE_URL`: an unset or empty `CLICKHOUSE_USER` is `default` and an
    /// unset `CLICKHOUSE_PASSWORD` is empty, as for `etl` (the pipelines say `${CLICKHOUSE_USER:-default}`
    /// and `${CLICKHOUSE_PASSWORD:-}`).
    private static var external: [String: String]? {
        let environment = ProcessInfo.processInfo.environment
        guard let url = environment["CLICKHOUSE_URL"], !url.isEmpty else { return nil }
        let user = environment["CLICKHOUSE_USER"].flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        return ["CLICKHOUSE_URL": url, "CLICKHOUSE_USER": user, "CLICKHOUSE_PASSWORD": environment["CLICKHOUSE_PASSWORD"] ?? ""]
    }

    /// `CLICKHOUSE_URL`, `_USER`, `_PASSWORD` and `_DATABASE` for `etl`.
    private(set) var environment: [String: String]
    /// The private server's directory; nil for an external server.
    private let directory: String?

    /// - Parameter privateServer: a server of this test's own, even when `CLICKHOUSE_URL` is set
    ///   (for tests that stop and start it).
    static func start(privateServer: Bool = false) async throws -> ClickHouseHarness {
        if !privateServer, var environment = external {
            let database = "etl_test_\(UUID().uuidString.prefix(8).lowercased())"
            environment["CLICKHOUSE_DATABASE"] = database
            let harness = ClickHouseHarness(environment: environment, directory: nil)
            let admin = ClickHouseClient(configuration: .init(url: environment["CLICKHOUSE_URL"]!, user: environment["CLICKHOUSE_USER"]!,
                                                              password: environment["CLICKHOUSE_PASSWORD"]!, database: "default"))
            try await admin.execute("CREATE DATABASE \(database)")
            return harness
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("etl-clickhouse-\(UUID().uuidString)").path
        let harness = ClickHouseHarness(environment: [:], directory: directory)
        try await harness.startPrivate()
        return harness
    }

    private init(environment: [String: String], directory: String?) {
        self.environment = environment
        self.directory = directory
    }

    /// A client for the test's database.
    var client: ClickHouseClient {
        ClickHouseClient(configuration: .init(url: environment["CLICKHOUSE_URL"]!, user: environment["CLICKHOUSE_USER"]!,
                                              password: environment["CLICKHOUSE_PASSWORD"]!, database: environment["CLICKHOUSE_DATABASE"]!))
    }

    private func startPrivate() async throws {
        let result = try await Subprocess.run(["start", directory!], executable: Self.script, in: URL(fileURLWithPath: "/"))
        guard result.status == 0, let line = result.stdout.split(separator: "\n").last(where: { $0.hasPrefix("export ") }) else {
            throw TestFailure("could not start clickhouse-server: \(result.output)")
        }
        for assignment in line.dropFirst("export ".count).split(separator: " ") {
            let parts = assignment.split(separator: "=", maxSplits: 1)
            environment[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
    }

    /// Kills the private server with SIGKILL, as a crash would; data and port are kept for
    /// `restart`. (A graceful stop keeps answering on open connections for seconds.)
    func kill() async throws {
        _ = try await Subprocess.run(["kill", directory!], executable: Self.script, in: URL(fileURLWithPath: "/"))
    }

    func restart() async throws {
        try await startPrivate()
    }

    /// Rows of a TabSeparated query in the test's database.
    func rows(_ sql: String) async throws -> [[String]] {
        try await client.rows(sql)
    }

    deinit {
        if let directory {
            _ = (try? Subprocess.start(["stop", directory], executable: Self.script, in: URL(fileURLWithPath: "/")))?.waitBlocking()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    private static var script: String {
        Subprocess.packageRoot.appendingPathComponent("scripts/clickhouse-local").path
    }
}

/// A client for the database that `CLICKHOUSE_*` variables (as `SharedClickHouse.freshDatabase`
/// gives them) name.
func clickHouseClient(for environment: [String: String]) -> ClickHouseClient {
    ClickHouseClient(configuration: .init(url: environment["CLICKHOUSE_URL"]!, user: environment["CLICKHOUSE_USER"] ?? "default",
                                          password: environment["CLICKHOUSE_PASSWORD"] ?? "", database: environment["CLICKHOUSE_DATABASE"] ?? "default"))
}
