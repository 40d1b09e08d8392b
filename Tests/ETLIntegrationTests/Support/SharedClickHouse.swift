import Foundation
import Testing

/// One ClickHouse for a whole suite, with a fresh database per test: starting and stopping a
/// private server costs seconds, so a suite of many short tests shares one.
///
///     @Suite(.serialized, SharedClickHouse()) struct SomeTests {
///         @Test func something() async throws {
///             let environment = try await SharedClickHouse.freshDatabase()
///
/// A test that stops or kills its server starts a `ClickHouseHarness` of its own instead.
struct SharedClickHouse: SuiteTrait, TestScoping {
    @TaskLocal static var current: ClickHouseHarness?

    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let harness = try await ClickHouseHarness.start()
        try await Self.$current.withValue(harness) { try await function() }
    }

    /// `CLICKHOUSE_*` variables for a new, empty database on the suite's server.
    static func freshDatabase() async throws -> [String: String] {
        guard let harness = current else { throw TestFailure("the suite lacks the SharedClickHouse() trait") }
        let database = "etl_test_\(UUID().uuidString.prefix(8).lowercased())"
        try await harness.client.execute("CREATE DATABASE \(database)")
        return harness.environment.merging(["CLICKHOUSE_DATABASE": database]) { $1 }
    }
}
