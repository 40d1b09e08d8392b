import ClickHouseConnector
import ETLCore
import Foundation
import ShopifyStandInKit
import Testing
@testable import etl

/// `pipelines/shopify.json` against a stand-in shop and a real ClickHouse, with the checks every
/// crash case ends with: the live table holds exactly the shop's line items, each once; the report
/// equals the shop's own top products; no staging table is left; the run is completed.
struct ShopifyRunFixture {
    let directory: TemporaryDirectory
    let standIn: StandInProcess
    let clickHouse: ClickHouseHarness
    var environment: [String: String] { standIn.environment.merging(clickHouse.environment) { $1 } }

    /// - Parameters:
    ///   - pageSize: smaller pages give more batches (one page each here), so more places to die.
    ///   - standInOptions: faults and bucket of the shop.
    static func start(orders: Int, pageSize: Int, maxRetrySeconds: Int = 60, timeoutSeconds: Int = 60, seed: UInt64 = 7,
                      standInOptions: [String] = ["--no-rate-limit"], clickHouse: ClickHouseHarness? = nil) async throws -> ShopifyRunFixture {
        let directory = try TemporaryDirectory()
        let standIn = try await StandInProcess.start(orders: orders, seed: seed, options: standInOptions, in: directory.url)
        let harness = if let clickHouse { clickHouse } else { try await ClickHouseHarness.start() }
        let pipeline = try String(contentsOfFile: Subprocess.packageRoot.appendingPathComponent("pipelines/shopify.json").path, encoding: .utf8)
            .replacingOccurrences(of: "\"page_size\": 250", with: "\"page_size\": \(pageSize), \"pages_per_batch\": 1, \"request_timeout_seconds\": \(timeoutSeconds)")
            .replacingOccurrences(of: "\"order_by\": \"order_id, line_item_id\"", with: "\"order_by\": \"order_id, line_item_id\", \"max_retry_seconds\": \(maxRetrySeconds)")
        try directory.write("shopify.json", pipeline)
        return ShopifyRunFixture(directory: directory, standIn: standIn, clickHouse: harness)
    }

    /// `etl ARGUMENTS --state s.sqlite` in the fixture's directory; `failpoint` arms ETL_FAILPOINT.
    func etl(_ arguments: [String], failpoint: String? = nil) async throws -> Subprocess.Result {
        try await Subprocess.run(arguments + ["--state", "s.sqlite"], in: directory.url,
                                 environment: environment.merging(failpoint.map { ["ETL_FAILPOINT": $0] } ?? [:]) { $1 })
    }

    func start(_ arguments: [String]) throws -> Subprocess {
        try Subprocess.start(arguments + ["--state", "s.sqlite"], in: directory.url, environment: environment)
    }

    func status() async throws -> [String: Any]? {
        try await RunStatus.statusJSON(state: "s.sqlite", in: directory).first
    }

    /// The checks every case ends with.
    func expectCompleteAndExact(_ context: String = "", sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let items = standIn.shop.orders(status: .any).flatMap(\.lineItems)
        let totals = try await clickHouse.rows("SELECT count(), uniqExact(line_item_id), sum(quantity) FROM shopify_line_items").first
        #expect(totals == [String(items.count), String(items.count), String(items.reduce(0) { $0 + $1.quantity })],
                "\(context): live holds each line item once", sourceLocation: sourceLocation)

        // What /top-products serves: the pipeline's own report, run by the sink.
        let pipeline = try Pipeline.load(path: directory.path("shopify.json"), registry: StandardComponents.registry, environment: environment, redactor: Redactor())
        let report = try #require(pipeline.reports.first)
        let rows = try await (pipeline.sink as! any QueryableSink).reportRows(report, arguments: .none, mode: .replace, timeout: .seconds(30))
        let expected = standIn.shop.topProducts(count: try #require(report.limit).maximum)
        let matches = rows.count == expected.count && zip(rows, expected).allSatisfy { row, product in
            guard case .string(let title)? = row["title"], case .int(let count)? = row["cnt_bought"] else { return false }
            return title.utf8.elementsEqual(product.title.utf8) && Int(count) == product.cntBought
        }
        #expect(matches, "\(context): the top-products report equals the shop's own", sourceLocation: sourceLocation)

        let staging = try await clickHouse.rows("SELECT name FROM system.tables WHERE database = currentDatabase() AND name LIKE '%__staging_run_%'")
        #expect(staging.isEmpty, "\(context): no staging table left: \(staging)", sourceLocation: sourceLocation)
        #expect(try await status()?["state"] as? String == "completed", "\(context): etl status shows the run completed", sourceLocation: sourceLocation)
    }

}
