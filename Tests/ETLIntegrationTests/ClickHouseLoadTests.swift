import ClickHouseConnector
import Foundation
import ShopifyStandInKit
import Synchronization
import Testing

/// The `clickhouse` sink against a real server: the Shopify pipeline end to end, atomic swaps
/// under a reader, exactly-once across kills, and a server that goes away mid-run.
@Suite(.serialized, .enabled(if: ClickHouseHarness.isAvailable, ClickHouseHarness.unavailableComment))
struct ClickHouseLoadTests {
    static let shopifyPipeline = Subprocess.packageRoot.appendingPathComponent("pipelines/shopify.json").path

    /// `pipelines/shopify.json` with a different page size and retry budget, one page per batch so
    /// that kills can aim at pages, for tests that need them.
    static func shopifyPipeline(pageSize: Int, maxRetrySeconds: Int = 60) throws -> String {
        try String(contentsOfFile: shopifyPipeline, encoding: .utf8)
            .replacingOccurrences(of: "\"page_size\": 250", with: "\"page_size\": \(pageSize), \"pages_per_batch\": 1")
            .replacingOccurrences(of: "\"order_by\": \"order_id, line_item_id\"", with: "\"order_by\": \"order_id, line_item_id\", \"max_retry_seconds\": \(maxRetrySeconds)")
    }

    /// The live table's line items: total, distinct ids, quantity sum.
    func lineItemTotals(_ clickHouse: ClickHouseHarness) async throws -> [String] {
        try await clickHouse.rows("SELECT count(), uniqExact(line_item_id), sum(quantity) FROM shopify_line_items").first ?? []
    }

    func expectedTotals(_ shop: Shop) -> [String] {
        let items = shop.orders(status: .any).flatMap(\.lineItems)
        return [String(items.count), String(items.count), String(items.reduce(0) { $0 + $1.quantity })]
    }

    func expectNoStagingTables(_ clickHouse: ClickHouseHarness) async throws {
        let staging = try await clickHouse.rows("SELECT name FROM system.tables WHERE database = currentDatabase() AND name LIKE '%__staging_run_%'")
        #expect(staging.isEmpty, "staging tables left: \(staging)")
    }

    @Test func theShopifyPipelineLoadsTheShopsTopProducts() async throws {
        let clickHouse = try await ClickHouseHarness.start()
        let directory = try TemporaryDirectory()
        let standIn = try await StandInProcess.start(orders: 3_000, options: ["--no-rate-limit"], in: directory.url)
        let result = try await Subprocess.run(["run", Self.shopifyPipeline, "--state", "s.sqlite"], in: directory.url,
                                              environment: standIn.environment.merging(clickHouse.environment) { $1 })
        #expect(result.status == 0, "\(result.output)")

        let rows = try await clickHouse.rows("""
            SELECT title, sum(quantity) AS cnt_bought FROM shopify_line_items
            GROUP BY title ORDER BY cnt_bought DESC, title ASC LIMIT 1000
            """)
        let expected = standIn.shop.topProducts(count: 1000)
        #expect(rows.count == expected.count)
        for (row, product) in zip(rows, expected) {
            #expect(row[0].utf8.elementsEqual(product.title.utf8), "title bytes differ at rank \(product.rank): \(row[0].debugDescription) vs \(product.title.debugDescription)")
            #expect(Int(row[1]) == product.cntBought, "count differs at rank \(product.rank)")
        }
        #expect(try await lineItemTotals(clickHouse) == expectedTotals(standIn.shop))
        let loads = try await clickHouse.rows("SELECT pipeline, table, run_id, rows FROM _etl_loads")
        #expect(loads == [["shopify-top-products", "shopify_line_items", "1", try await lineItemTotals(clickHouse)[0]]])
        // A batch's hash is in one of its rows, not in each: batches, rows with a hash and rows
        // with a 64-digit hash are as many.
        let hashed = try await clickHouse.rows("SELECT uniqExact(_etl_batch), countIf(_etl_batch_hash != ''), countIf(length(_etl_batch_hash) = 64) FROM shopify_line_items")
        #expect(hashed.count == 1 && Int(hashed[0][0]) ?? 0 > 0 && Set(hashed[0]).count == 1, "batches, hashed rows, 64-digit hashes: \(hashed)")
        try await expectNoStagingTables(clickHouse)
    }

    /// `"compress": true` sends INSERT data gzip-compressed (for slow links); the server must get
    /// the same rows, awkward bytes included.
    @Test func compressedInsertsLandTheSameRows() async throws {
        let clickHouse = try await ClickHouseHarness.start()
        let directory = try TemporaryDirectory()
        try directory.write("p.json", """
            {"version": 1, "name": "gzip",
             "extract": {"type": "jsonl", "path": "in.jsonl", "batch_size": 300},
             "load": {"type": "clickhouse", "url": "${CLICKHOUSE_URL}", "user": "${CLICKHOUSE_USER:-default}", "password": "${CLICKHOUSE_PASSWORD:-}",
                      "database": "${CLICKHOUSE_DATABASE:-default}", "table": "gz", "columns": {"n": "UInt64", "t": "String"}, "compress": true}}
            """)
        // As written in JSON, and as the bytes that must arrive.
        let titles: [(json: String, bytes: [UInt8])] = [
            ("Tee", Array("Tee".utf8)), ("Tee ", Array("Tee ".utf8)), (#"tab\there"#, Array("tab\there".utf8)),
            (#"q\"uote \\ b"#, Array("q\"uote \\ b".utf8)), (#"NUL \u0000"#, Array("NUL \u{0}".utf8)), ("茶杯 😀", Array("茶杯 😀".utf8)),
        ]
        try (0..<1_000).map { #"{"n": \#($0), "t": "\#(titles[$0 % titles.count].json)"}"# }.joined(separator: "\n")
            .write(toFile: directory.path("in.jsonl"), atomically: true, encoding: .utf8)
        let result = try await Subprocess.run(["run", "p.json", "--state", "s.sqlite"], in: directory.url, environment: clickHouse.environment)
        #expect(result.status == 0, "\(result.output)")
        #expect(try await clickHouse.rows("SELECT count(), uniqExact(n), uniqExact(t) FROM gz").first == ["1000", "1000", String(titles.count)])
        let arrived = try await clickHouse.rows("SELECT n % \(titles.count) AS k, hex(t), count() FROM gz GROUP BY k, t ORDER BY k")
        #expect(arrived == titles.enumerated().map { index, title in
            [String(index), title.bytes.map { String(format: "%02X", $0) }.joined(), String((1_000 - index + titles.count - 1) / titles.count)]
        })
    }

    @Test func aReaderOnlyEverSeesCompleteRuns() async throws {
        let clickHouse = try await ClickHouseHarness.start()
        let directory = try TemporaryDirectory()
        let sizes = [3_000, 500, 7_000, 1, 2_500, 12_000, 800, 5_000, 2_000, 9_000]
        try directory.write("p.json", """
            {"version": 1, "name": "swaps",
             "extract": {"type": "jsonl", "path": "${INPUT}", "batch_size": 700},
             "load": {"type": "clickhouse", "url": "${CLICKHOUSE_URL}", "user": "${CLICKHOUSE_USER:-default}", "password": "${CLICKHOUSE_PASSWORD:-}",
                      "database": "${CLICKHOUSE_DATABASE:-default}", "table": "swaps", "columns": {"tag": "UInt32", "n": "UInt64"}, "order_by": "n"}}
            """)
        for (tag, size) in sizes.enumerated() {
            try (0..<size).map { #"{"tag": \#(tag), "n": \#($0)}"# }.joined(separator: "\n").write(toFile: directory.path("run\(tag).jsonl"), atomically: true, encoding: .utf8)
        }
        func load(_ tag: Int) async throws {
            let result = try await Subprocess.run(["run", "p.json", "--state", "s.sqlite"], in: directory.url,
                                                  environment: clickHouse.environment.merging(["INPUT": "run\(tag).jsonl"]) { $1 })
            #expect(result.status == 0, "\(result.output)")
        }
        try await load(0)

        let done = Atomic(false)
        let reader = Task {
            var observations: [[String]] = []
            while !done.load(ordering: .relaxed) {
                observations.append(try await clickHouse.rows("SELECT count(), uniqExact(tag), max(tag) FROM swaps").first ?? [])
            }
            return observations
        }
        for tag in 1..<sizes.count { try await load(tag) }
        done.store(true, ordering: .relaxed)
        let observations = try await reader.value

        let seenTags = Set(observations.compactMap { $0.count == 3 ? Int($0[2]) : nil })
        print("reader: \(observations.count) queries during \(sizes.count - 1) swaps, saw \(seenTags.count) different loads")
        #expect(seenTags.count >= 5, "the reader ran alongside the swaps")
        for observation in observations {
            guard observation.count == 3, let count = Int(observation[0]), let tag = Int(observation[2]) else {
                Issue.record("unreadable observation \(observation)")
                continue
            }
            #expect(observation[1] == "1", "a mix of runs: \(observation)")
            #expect(count == sizes[tag], "a partial run: \(observation), run \(tag) has \(sizes[tag]) rows")
        }
        try await expectNoStagingTables(clickHouse)
    }

    @Test func killedAroundTheInsertAndTheSwapLoadsEveryLineItemOnce() async throws {
        let clickHouse = try await ClickHouseHarness.start()
        let directory = try TemporaryDirectory()
        let standIn = try await StandInProcess.start(orders: 2_000, options: ["--no-rate-limit"], in: directory.url)
        try directory.write("p.json", try Self.shopifyPipeline(pageSize: 100))
        let environment = standIn.environment.merging(clickHouse.environment) { $1 }
        for (index, failpoint) in ["after-load:7", "after-load:15", "before-complete", "after-complete"].enumerated() {
            let killed = try await Subprocess.run([index == 0 ? "run" : "resume", "p.json", "--state", "s.sqlite"], in: directory.url,
                                                  environment: environment.merging(["ETL_FAILPOINT": failpoint]) { $1 })
            #expect(killed.signal == SIGKILL, "\(failpoint): \(killed.output)")
            if failpoint == "after-load:15" {
                #expect(killed.stderr.contains("batch 7 was already staged"), "\(killed.stderr)")
            }
        }
        let resumed = try await Subprocess.run(["resume", "p.json", "--state", "s.sqlite"], in: directory.url, environment: environment)
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(try await lineItemTotals(clickHouse) == expectedTotals(standIn.shop))
        #expect(try await clickHouse.rows("SELECT count() FROM _etl_loads") == [["1"]])
        try await expectNoStagingTables(clickHouse)
    }

    @Test func aValueThatDoesNotFitItsColumnNamesItsRowAndColumn() async throws {
        let clickHouse = try await ClickHouseHarness.start()
        let directory = try TemporaryDirectory()
        try directory.write("in.jsonl", (1...5).map { #"{"n": \#($0 == 4 ? 300 : $0), "s": "x"}"# }.joined(separator: "\n"))
        // Rows as values (no transform), and as a table (after `select`).
        for (name, transform) in [("values", ""), ("table", #""transform": [{"type": "select", "fields": {"s": "s", "n": "n"}}],"#)] {
            try directory.write("\(name).json", """
                {"version": 1, "name": "fit-\(name)", "extract": {"type": "jsonl", "path": "in.jsonl", "batch_size": 3}, \(transform)
                 "load": {"type": "clickhouse", "url": "${CLICKHOUSE_URL}", "user": "${CLICKHOUSE_USER:-default}", "password": "${CLICKHOUSE_PASSWORD:-}",
                          "database": "${CLICKHOUSE_DATABASE:-default}", "table": "fit_\(name)", "columns": {"s": "String", "n": "UInt8"}, "order_by": "n"}}
                """)
            let result = try await Subprocess.run(["run", "\(name).json", "--state", "s.sqlite"], in: directory.url, environment: clickHouse.environment)
            #expect(result.status != 0)
            #expect(result.output.contains("clickhouse sink: batch 2, row 1, column n: 300 does not fit UInt8"), "\(name): \(result.output)")
        }
    }

    @Test func clickHouseStoppedMidRunFailsClearlyAndResumeCompletes() async throws {
        let clickHouse = try await ClickHouseHarness.start(privateServer: true)
        let directory = try TemporaryDirectory()
        let standIn = try await StandInProcess.start(orders: 3_000, options: ["--bucket-size", "40", "--leak-rate", "20"], in: directory.url)
        try directory.write("p.json", try Self.shopifyPipeline(pageSize: 25, maxRetrySeconds: 2))
        let environment = standIn.environment.merging(clickHouse.environment) { $1 }

        let run = try Subprocess.start(["run", "p.json", "--state", "s.sqlite"], in: directory.url, environment: environment)
        try await RunStatus.waitForBatches(atLeast: 5, state: "s.sqlite", in: directory, of: run)
        try await clickHouse.kill()
        print("ClickHouse killed after batch \(try await RunStatus.statusJSON(state: "s.sqlite", in: directory).first?["batches"] ?? "?")")
        let failed = await run.wait()
        #expect(failed.status == 1, "\(failed.output)")
        #expect(failed.stderr.contains("failed in load"), "\(failed.stderr)")
        #expect(failed.stderr.contains("is unreachable"), "\(failed.stderr)")
        #expect(failed.stderr.contains("etl resume"))

        try await clickHouse.restart()
        let resumed = try await Subprocess.run(["resume", "p.json", "--state", "s.sqlite"], in: directory.url, environment: environment)
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(try await lineItemTotals(clickHouse) == expectedTotals(standIn.shop))
        try await expectNoStagingTables(clickHouse)
    }
}
