@testable import ShopifyConnector
import Testing

struct CallLimitPacerTests {
    let start = ContinuousClock.now

    @Test func doesNotWaitWhileTheBucketHasRoom() {
        var pacer = CallLimitPacer()
        pacer.observe(used: 10, capacity: 40, at: start)
        #expect(pacer.delay(at: start) == .zero)
    }

    @Test func startsFromTheDocumentedRatioThenLearnsTheRealLeakRate() {
        var pacer = CallLimitPacer()
        pacer.observe(used: 30, capacity: 40, at: start)
        #expect(pacer.leakPerSecond == 2)  // 40 / 20, Shopify's standard plan
        // Ten requests over one second, and the level fell by 10: 20 units leaked, 20/s.
        for step in 1...10 {
            pacer.observe(used: 30 + step - 2 * step, capacity: 40, at: start + .milliseconds(100 * step))
        }
        #expect(pacer.leakPerSecond == 20)
    }

    @Test func waitsJustLongEnoughWhenTheBucketIsNearlyFull() {
        var pacer = CallLimitPacer()
        pacer.observe(used: 40, capacity: 40, at: start)
        // Level 40, room kept: 2 units; one more request needs the level at 37: 3 units at 2/s.
        #expect(pacer.delay(at: start) == .seconds(1.5))
        #expect(pacer.delay(at: start + .seconds(1)) == .seconds(0.5))
        #expect(pacer.delay(at: start + .seconds(2)) == .zero)
    }

    @Test func aThrottleMeansTheBucketIsFullAndTheEstimateWasHigh() {
        var pacer = CallLimitPacer()
        pacer.observe(used: 5, capacity: 40, at: start)
        pacer.throttled(at: start)
        #expect(pacer.leakPerSecond == 1.8)
        #expect(pacer.delay(at: start) > .zero)
    }

    @Test func parsesTheHeader() {
        #expect(ShopifyAPI.parseCallLimit("39/40")! == (39, 40))
        #expect(ShopifyAPI.parseCallLimit("1 / 400")! == (1, 400))
        #expect(ShopifyAPI.parseCallLimit("x/40") == nil)
        #expect(ShopifyAPI.parseCallLimit("3/0") == nil)
    }

    @Test func shopAddresses() {
        #expect(ShopURL("my-shop.myshopify.com")?.base == "https://my-shop.myshopify.com")
        #expect(ShopURL("https://my-shop.myshopify.com/")?.base == "https://my-shop.myshopify.com")
        #expect(ShopURL("http://127.0.0.1:8081")?.base == "http://127.0.0.1:8081")
        #expect(ShopURL("ftp://x") == nil)
        #expect(ShopURL("https://shop.example/admin") == nil)
    }
}
