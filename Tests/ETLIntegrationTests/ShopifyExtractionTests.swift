import Foundation
import ShopifyStandInKit
import Testing

/// `shopify.orders` end to end: the real `etl` binary against the real `shopify-standin` binary.
@Suite(.serialized)
struct ShopifyExtractionTests {
    /// With `firstSteps`, steps before the explode keep the source from decoding pages straight
    /// into rows: it builds the orders instead.
    static func pipeline(output: String, pageSize: Int = 250, timeoutSeconds: Int = 60, maxRetrySeconds: Int = 300, firstSteps: String = "") -> String {
        """
        {
          "version": 1,
          "name": "shopify-orders",
          "extract": {
            "type": "shopify.orders",
            "shop_url": "${SHOPIFY_SHOP_URL}",
            "access_token": "${SHOPIFY_ACCESS_TOKEN}",
            "page_size": \(pageSize),
            "pages_per_batch": 1,
            "request_timeout_seconds": \(timeoutSeconds),
            "max_retry_seconds": \(maxRetrySeconds)
          },
          "transform": [\(firstSteps)
            {"type": "explode", "field": "line_items", "as": "line_item"},
            {"type": "select", "fields": {"order_id": "id", "line_item_id": "line_item.id", "title": "line_item.title", "quantity": "line_item.quantity"}}
          ],
          "load": {"type": "jsonl", "path": "\(output)"}
        }
        """
    }

    struct LineItem: Decodable, Equatable {
        let order_id: Int
        let line_item_id: Int
        let title: String
        let quantity: Int

        /// Titles compare byte for byte: Swift's `==` would equate NFC and NFD spellings.
        static func == (a: LineItem, b: LineItem) -> Bool {
            a.order_id == b.order_id && a.line_item_id == b.line_item_id && a.quantity == b.quantity && a.title.utf8.elementsEqual(b.title.utf8)
        }
    }

    func lineItems(_ directory: TemporaryDirectory, _ name: String) throws -> [LineItem] {
        try directory.read(name).split(separator: UInt8(ascii: "\n")).map { try JSONDecoder().decode(LineItem.self, from: Data($0)) }
    }

    /// Every line item of every order, `status=any`, as the shop itself knows them.
    func expectedLineItems(_ shop: Shop) -> [LineItem] {
        shop.orders(status: .any).flatMap { order in
            order.lineItems.map { LineItem(order_id: order.id, line_item_id: $0.id, title: $0.title, quantity: $0.quantity) }
        }
    }

    @Test func everyOrderExactlyOnceThroughFaultsAndASmallBucket() async throws {
        let directory = try TemporaryDirectory()
        let standIn = try await StandInProcess.start(orders: 20_000, options: [
            "--bucket-size", "10", "--leak-rate", "40",
            "--error-rate", "0.1", "--stall-rate", "0.02", "--stall-seconds", "3",
            "--malformed-rate", "0.02", "--reset-rate", "0.02",
            "--big-page-rate", "0.3", "--big-page-threshold", "200",
        ], in: directory.url)
        try directory.write("p.json", Self.pipeline(output: "orders.jsonl", timeoutSeconds: 1))
        let result = try await Subprocess.run(["run", "p.json", "--state", "s.sqlite"], in: directory.url, environment: standIn.environment)
        #expect(result.status == 0, "\(result.output)")

        let loaded = try lineItems(directory, "orders.jsonl")
        let expected = expectedLineItems(standIn.shop)
        #expect(loaded == expected, "line items differ from the shop's")
        let orderIDs = Set(loaded.map(\.order_id))
        #expect(orderIDs.count == standIn.shop.count(status: .any))

        let stats = try await standIn.stats()
        print("faults survived: \(stats.faults), 429s: \(stats.throttled) of \(stats.requests) requests")
        #expect(stats.faults.serverError > 0 && stats.faults.stall > 0 && stats.faults.malformed > 0 && stats.faults.connectionReset > 0)
        let status = try JSONSerialization.jsonObject(with: Data(try await Subprocess.run(["status", "--json", "--state", "s.sqlite"], in: directory.url).stdout.utf8)) as! [[String: Any]]
        #expect(status.first?["records"] as? Int == standIn.shop.count(status: .any))
        #expect(status.first?["expected_total"] as? Int == standIn.shop.count(status: .any), "total from orders/count.json")
    }

    @Test func ordersBuiltAsValuesGiveTheSameLineItemsThroughMalformedPages() async throws {
        let directory = try TemporaryDirectory()
        let standIn = try await StandInProcess.start(orders: 3_000, options: ["--no-rate-limit", "--malformed-rate", "0.1"], in: directory.url)
        try directory.write("p.json", Self.pipeline(output: "orders.jsonl", pageSize: 100, firstSteps: #"{"type": "filter", "field": "id", "op": "exists"},"#))
        let result = try await Subprocess.run(["run", "p.json", "--state", "s.sqlite"], in: directory.url, environment: standIn.environment)
        #expect(result.status == 0, "\(result.output)")
        #expect(try lineItems(directory, "orders.jsonl") == expectedLineItems(standIn.shop), "line items differ from the shop's")
        #expect(try await standIn.stats().faults.malformed > 0)
    }

    /// Issue figures: with a 40-request bucket leaking 20/s, a long extraction stays under 2% 429s
    /// and runs at 85% of the leak rate or more, measured after the initial burst.
    @Test func pacedToTheBucketsLeakRate() async throws {
        let directory = try TemporaryDirectory()
        let standIn = try await StandInProcess.start(orders: 3_000, options: ["--bucket-size", "40", "--leak-rate", "20"], in: directory.url)
        try directory.write("p.json", Self.pipeline(output: "orders.jsonl", pageSize: 10))
        let started = Date()
        let result = try await Subprocess.run(["run", "p.json", "--state", "s.sqlite"], in: directory.url, environment: standIn.environment)
        let elapsed = Date().timeIntervalSince(started)
        #expect(result.status == 0, "\(result.output)")

        let stats = try await standIn.stats()
        let throttledShare = Double(stats.throttled) / Double(stats.requests)
        // The first 40 requests fill the empty bucket at once; the rest can only go at the leak rate.
        let steadyRate = Double(stats.requests - 40) / elapsed
        print("rate-limited extraction: \(stats.requests) requests in \(String(format: "%.1f", elapsed))s, steady \(String(format: "%.1f", steadyRate))/s = \(String(format: "%.0f", steadyRate / 20 * 100))% of the leak rate, 429s \(stats.throttled) (\(String(format: "%.2f", throttledShare * 100))%)")
        #expect(throttledShare < 0.02)
        #expect(steadyRate >= 0.85 * 20)
    }

    @Test func aWrongTokenFailsFastNamingTheVariableAndNeverShowingTheToken() async throws {
        let directory = try TemporaryDirectory()
        let standIn = try await StandInProcess.start(orders: 100, in: directory.url)
        try directory.write("p.json", Self.pipeline(output: "orders.jsonl"))
        let wrongToken = "wrong-token-b7e1c2d9a4f6"
        let started = Date()
        let failed = try await Subprocess.run(["run", "p.json", "--state", "s.sqlite", "--log-level", "trace"], in: directory.url,
                                        environment: ["SHOPIFY_SHOP_URL": standIn.url, "SHOPIFY_ACCESS_TOKEN": wrongToken])
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(failed.status == 1)
        #expect(failed.stderr.contains("HTTP 401"))
        #expect(failed.stderr.contains("check SHOPIFY_ACCESS_TOKEN"), "\(failed.stderr)")

        // A good run logs at the finest level; neither token may appear anywhere.
        let succeeded = try await Subprocess.run(["resume", "p.json", "--state", "s.sqlite", "--log-level", "trace"], in: directory.url, environment: standIn.environment)
        #expect(succeeded.status == 0, "\(succeeded.output)")
        let status = try await Subprocess.run(["status", "--state", "s.sqlite"], in: directory.url)
        let statusJSON = try await Subprocess.run(["status", "--json", "--state", "s.sqlite"], in: directory.url)
        #expect(status.stdout.contains("completed"))
        for text in [failed.output, succeeded.output, status.output, statusJSON.output] {
            #expect(!text.contains(wrongToken))
            #expect(!text.contains(StandInProcess.token))
        }
    }

    /// A page whose ids do not ascend from the page before (here it starts with that page's last
    /// order again) fails the run before its batch loads; once the shop serves proper pages, a
    /// resume loads every order exactly once.
    @Test func pagesWhoseIdsDoNotAscendFailTheirBatchAndResumeLoadsEachOrderOnce() async throws {
        let directory = try TemporaryDirectory()
        try directory.write("p.json", Self.pipeline(output: "orders.jsonl", pageSize: 100))
        let faulty = try await StandInProcess.start(orders: 1_000, options: ["--no-rate-limit", "--overlap-rate", "1"], in: directory.url)
        let failed = try await Subprocess.run(["run", "p.json", "--state", "s.sqlite"], in: directory.url, environment: faulty.environment)
        #expect(failed.status == 1, "\(failed.output)")
        #expect(failed.output.contains("came after order") && failed.output.contains("ascending id order"), "\(failed.output)")
        // The first page, a batch of its own, was checkpointed; nothing of the second.
        let run = try #require(try await RunStatus.statusJSON(state: "s.sqlite", in: directory).first)
        #expect(run["state"] as? String == "failed" && run["batches"] as? Int == 1 && run["records"] as? Int == 100, "\(run)")

        let proper = try await StandInProcess.start(orders: 1_000, options: ["--no-rate-limit"], in: directory.url)
        let resumed = try await Subprocess.run(["resume", "--state", "s.sqlite"], in: directory.url, environment: proper.environment)
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(try lineItems(directory, "orders.jsonl") == expectedLineItems(proper.shop))
    }

    @Test func resumeAfterAKillReRequestsNoCommittedPage() async throws {
        let directory = try TemporaryDirectory()
        let standIn = try await StandInProcess.start(orders: 5_000, options: ["--no-rate-limit"], in: directory.url)
        try directory.write("p.json", Self.pipeline(output: "orders.jsonl", pageSize: 50))
        let killed = try await Subprocess.run(["run", "p.json", "--state", "s.sqlite"], in: directory.url,
                                        environment: standIn.environment.merging(["ETL_FAILPOINT": "after-load:40"]) { $1 })
        #expect(killed.signal == SIGKILL)
        let resumed = try await Subprocess.run(["resume", "--state", "s.sqlite"], in: directory.url, environment: standIn.environment)
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(try lineItems(directory, "orders.jsonl") == expectedLineItems(standIn.shop))
        // Fetched twice at most: the page loaded but not checkpointed, the one prepared behind it,
        // and the two read ahead (one batch and at least one page more). No committed page: the
        // resume starts at the checkpointed since_id.
        let again = try await standIn.stats().ordersServedAgain
        print("orders fetched twice across the kill: \(again) (a page is 50)")
        #expect(again <= 4 * 50)
    }
}
