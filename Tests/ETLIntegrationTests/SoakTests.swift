import Foundation
import ShopifyStandInKit
import Testing

/// The long, randomised crash test: many runs of `pipelines/shopify.json`, each killed at random
/// failpoints and resumed until it completes, then checked like the fault suite's cases.
///
/// Not part of the test command (it excludes this suite); run it with `scripts/soak`, which sets
/// ETL_SOAK_KILLS (how many kills in all) and ETL_SOAK_SEED (printed; the same seed replays the
/// same shops, page sizes and kill points).
@Suite(.serialized, .enabled(if: ClickHouseHarness.isAvailable, ClickHouseHarness.unavailableComment))
struct SoakTests {
    @Test func randomKillsNeverChangeTheResult() async throws {
        let environment = ProcessInfo.processInfo.environment
        let wantedKills = environment["ETL_SOAK_KILLS"].flatMap(Int.init) ?? 20
        let seed = environment["ETL_SOAK_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64(UInt32.max))
        print("soak: seed \(seed), \(wantedKills) kills (replay with ETL_SOAK_SEED=\(seed) ETL_SOAK_KILLS=\(wantedKills) scripts/soak)")
        var random = SplitMix64(seed: seed)
        // One server for every run: a new checkpoint file's run 1 must never be taken for an old run 1.
        let clickHouse = try await ClickHouseHarness.start()

        var kills = 0
        var runs = 0
        while kills < wantedKills {
            runs += 1
            let pageSize = [25, 50, 100, 250].randomElement(using: &random)!
            let orders = Int.random(in: 200...3_000, using: &random)
            let fixture = try await ShopifyRunFixture.start(orders: orders, pageSize: pageSize, seed: random.next(), clickHouse: clickHouse)
            let batches = (orders + pageSize - 1) / pageSize
            var command = ["run", "shopify.json"]
            var plan: [String] = []
            // Kill points in run order, each one that the resume after the last will reach: any
            // batch not yet checkpointed is extracted again, but one that a kill left staged is
            // only checkpointed, so no second after-load there.
            var firstUncheckpointed = 1
            var stagedByKill: Int?
            while kills < wantedKills, Int.random(in: 0..<4, using: &random) > 0, firstUncheckpointed <= batches {
                let point = ["after-extract", "after-load", "after-checkpoint"].randomElement(using: &random)!
                var batch = Int.random(in: firstUncheckpointed...min(batches, firstUncheckpointed + max(1, batches / 4)), using: &random)
                if point == "after-load", batch == stagedByKill { batch += 1 }
                guard batch <= batches else { break }
                plan.append("\(point):\(batch)")
                firstUncheckpointed = point == "after-checkpoint" ? batch + 1 : batch
                if point == "after-load" { stagedByKill = batch }
                kills += 1
            }
            if kills < wantedKills, Bool.random(using: &random) {
                plan.append(["before-complete", "after-complete"].randomElement(using: &random)!)
                kills += 1
            }
            for failpoint in plan {
                let result = try await fixture.etl(command, failpoint: failpoint)
                #expect(result.signal == SIGKILL, "seed \(seed), run \(runs): expected death at \(failpoint): \(result.output)")
                command = ["resume", "shopify.json"]
            }
            let finished = try await fixture.etl(command)
            #expect(finished.status == 0, "seed \(seed), run \(runs) after \(plan): \(finished.output)")
            try await fixture.expectCompleteAndExact("seed \(seed), run \(runs), \(orders) orders, pages of \(pageSize), killed at \(plan)")
        }
        print("soak: \(kills) kills over \(runs) runs, seed \(seed)")
    }
}
