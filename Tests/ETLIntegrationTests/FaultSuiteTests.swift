import ClickHouseConnector
import Foundation
import HTTPClient
import Synchronization
import Testing

/// Crash safety of `pipelines/shopify.json`, proven: killed anywhere, faulted from either side,
/// `etl resume` ends with exactly what an uninterrupted run gives.
@Suite(.serialized, .enabled(if: ClickHouseHarness.isAvailable, ClickHouseHarness.unavailableComment))
struct FaultSuiteTests {
    /// 25 deaths over one run of 40 batches: at the first request, around every stage of early,
    /// middle and late batches, at and after the swap. Every death after the first is a resume's.
    static let killPlan = [
        "after-extract:1", "after-load:1", "after-checkpoint:1", "after-extract:3", "after-load:5", "after-load:6",
        "after-checkpoint:8", "after-extract:10", "after-load:12", "after-checkpoint:15", "after-extract:18", "after-load:20",
        "after-load:21", "after-checkpoint:24", "after-extract:27", "after-load:30", "after-checkpoint:33", "after-load:36",
        "after-extract:39", "after-load:40", "after-checkpoint:40", "before-complete", "before-complete", "after-complete",
    ]

    @Test func killedAtTwentyFiveMomentsResumesToTheExactResult() async throws {
        let fixture = try await ShopifyRunFixture.start(orders: 2_000, pageSize: 50)

        // Death during the very first request: before or just after the run is recorded.
        let early = try fixture.start(["run", "shopify.json"])
        try await Task.sleep(for: .milliseconds(40))
        early.signal(SIGKILL)
        #expect(await early.wait().signal == SIGKILL)
        var started = try await fixture.status() != nil

        for failpoint in Self.killPlan {
            let result = try await fixture.etl(started ? ["resume", "shopify.json"] : ["run", "shopify.json"], failpoint: failpoint)
            #expect(result.signal == SIGKILL, "expected death at \(failpoint): \(result.output)")
            started = true
        }
        let finished = try await fixture.etl(["resume", "shopify.json"])
        #expect(finished.status == 0, "\(finished.output)")
        try await fixture.expectCompleteAndExact("after 25 kills")
    }

    /// 5xx bursts, stalls past the client timeout, truncated and malformed bodies, connection
    /// resets, and a 429 storm from another client draining the same bucket; killed midway too.
    @Test func shopifyFaultsAndAKillStillGiveTheExactResult() async throws {
        let fixture = try await ShopifyRunFixture.start(orders: 3_000, pageSize: 100, timeoutSeconds: 1, standInOptions: [
            "--bucket-size", "40", "--leak-rate", "40",
            "--error-rate", "0.15", "--stall-rate", "0.03", "--stall-seconds", "2",
            "--malformed-rate", "0.05", "--reset-rate", "0.05", "--big-page-rate", "0.2", "--big-page-threshold", "50",
        ])
        let countURL = fixture.standIn.url + "/admin/api/2026-10/orders/count.json"
        let storm = Task {
            // Another client with the same token: it keeps the bucket full, so ours meets 429s.
            let client = HTTPClient()
            let request = HTTPRequest(url: countURL, headers: [("X-Shopify-Access-Token", StandInProcess.token)])
            while !Task.isCancelled { _ = try? await client.execute(request) }
        }
        defer { storm.cancel() }

        let killed = try await fixture.etl(["run", "shopify.json"], failpoint: "after-load:12")
        #expect(killed.signal == SIGKILL, "\(killed.output)")
        let resumed = try await fixture.etl(["resume", "shopify.json"])
        storm.cancel()
        #expect(resumed.status == 0, "\(resumed.output)")
        let stats = try await fixture.standIn.stats()
        print("shopify faults: \(stats.faults), 429s: \(stats.throttled) of \(stats.requests) requests")
        #expect(stats.throttled > 0 && stats.faults.serverError > 0 && stats.faults.stall > 0 && stats.faults.malformed > 0 && stats.faults.connectionReset > 0)
        try await fixture.expectCompleteAndExact("through Shopify faults")
    }

    /// Someone drops the run's staging table under it: the next INSERT is rejected, the run fails
    /// clearly, resume refuses to build on lost data, and a restart loads everything.
    @Test func anInsertRejectedBecauseStagingVanished() async throws {
        let fixture = try await ShopifyRunFixture.start(orders: 3_000, pageSize: 25, standInOptions: ["--bucket-size", "40", "--leak-rate", "20"])
        let run = try fixture.start(["run", "shopify.json"])
        try await RunStatus.waitForBatches(atLeast: 5, state: "s.sqlite", in: fixture.directory, of: run)
        let staging = try #require(try await fixture.clickHouse.rows("SELECT name FROM system.tables WHERE database = currentDatabase() AND name LIKE 'shopify_line_items__staging_run_1_%'").first?.first)
        try await fixture.clickHouse.client.execute("DROP TABLE \(staging)")
        let failed = await run.wait()
        #expect(failed.status == 1, "\(failed.output)")
        #expect(failed.stderr.contains("failed in load"), "\(failed.stderr)")

        let refused = try await fixture.etl(["resume", "shopify.json"])
        #expect(refused.status == 4, "\(refused.output)")
        #expect(refused.stderr.contains("--restart"), "\(refused.stderr)")
        let restarted = try await fixture.etl(["run", "shopify.json", "--restart"])
        #expect(restarted.status == 0, "\(restarted.output)")
        try await fixture.expectCompleteAndExact("after a rejected INSERT")
    }

    /// The run dies at its swap and ClickHouse dies with it; resume fails clearly while the
    /// server is down, and finishes the swap once it is back.
    @Test func clickHouseRestartedDuringTheSwap() async throws {
        let clickHouse = try await ClickHouseHarness.start(privateServer: true)
        let fixture = try await ShopifyRunFixture.start(orders: 1_000, pageSize: 100, maxRetrySeconds: 2, clickHouse: clickHouse)
        let killed = try await fixture.etl(["run", "shopify.json"], failpoint: "before-complete")
        #expect(killed.signal == SIGKILL)
        try await clickHouse.kill()
        let down = try await fixture.etl(["resume", "shopify.json"])
        #expect(down.status == 1, "\(down.output)")
        #expect(down.stderr.contains("is unreachable"), "\(down.stderr)")
        try await clickHouse.restart()
        let resumed = try await fixture.etl(["resume", "shopify.json"])
        #expect(resumed.status == 0, "\(resumed.output)")
        try await fixture.expectCompleteAndExact("after ClickHouse restarted during the swap")
    }

    @Test func sigtermStopsAtABatchBoundaryAndSaysHowToResume() async throws {
        let fixture = try await ShopifyRunFixture.start(orders: 3_000, pageSize: 25, standInOptions: ["--bucket-size", "40", "--leak-rate", "20"])
        let run = try fixture.start(["run", "shopify.json"])
        try await RunStatus.waitForBatches(atLeast: 5, state: "s.sqlite", in: fixture.directory, of: run)
        run.signal(SIGTERM)
        let stopped = await run.wait()
        #expect(stopped.status == 130, "\(stopped.output)")
        #expect(stopped.stderr.contains("checkpoint written; continue it with: etl resume"), "\(stopped.stderr)")
        #expect(try await fixture.status()?["state"] as? String == "interrupted")
        let resumed = try await fixture.etl(["resume"])
        #expect(resumed.status == 0, "\(resumed.output)")
        try await fixture.expectCompleteAndExact("after SIGTERM")
    }
}
