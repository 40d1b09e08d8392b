@testable import ETLServer
import Testing

/// The parameterised reports' answer cache: bounded by cost, least recently used out first.
struct AnswerCacheTests {
    @Test func theLeastRecentlyUsedEntriesGoFirstOnceTheCostLimitIsPassed() {
        var cache = LeastRecentlyUsed<String, Int>(costLimit: 30)
        for (key, value) in [("a", 1), ("b", 2), ("c", 3)] { cache.insert(value, for: key, cost: 10) }
        #expect(cache.value(for: "a") == 1, "a is now the most recently used")
        cache.insert(4, for: "d", cost: 10)
        #expect(cache.value(for: "b") == nil, "b, least recently used, was evicted")
        #expect(cache.value(for: "a") == 1 && cache.value(for: "c") == 3 && cache.value(for: "d") == 4)
        cache.insert(5, for: "e", cost: 25)
        #expect(cache.count == 1 && cache.value(for: "e") == 5 && cache.totalCost == 25, "room made by evicting as many as needed")
        cache.insert(6, for: "e", cost: 5)
        #expect(cache.value(for: "e") == 6 && cache.totalCost == 5, "a replaced entry's cost is replaced")
        cache.insert(7, for: "huge", cost: 31)
        #expect(cache.value(for: "huge") == nil && cache.value(for: "e") == 6, "a value over the whole limit is not kept, and evicts nothing")
        for index in 0..<1_000 { cache.insert(index, for: "k\(index)", cost: 1) }
        #expect(cache.count == 30 && cache.totalCost == 30 && cache.value(for: "k999") == 999 && cache.value(for: "k969") == nil)
    }
}

/// Which report paths the server can route, and which clash.
struct ReportPathTests {
    @Test func parameterSegmentsAreServableAndClashWhateverTheirNames() {
        for path in ["/top-products", "/v1/products/{product_id}/reviews", "/a/{x}", "/a.b~c/d_e"] { #expect(ServedPipelines.isServablePath(path), "\(path)") }
        for path in ["/a/{x-y}", "/a/{}", "/a/*", "/a/:id", "/a//b", "/a/x{y}", "/a/{x}y", "/é"] { #expect(!ServedPipelines.isServablePath(path), "\(path)") }
        #expect(ServedPipelines.route("/v1/products/{product_id}/reviews") == ServedPipelines.route("/v1/products/{id}/reviews"))
        #expect(ServedPipelines.route("/v1/products/{product_id}/reviews") != ServedPipelines.route("/v1/users/{product_id}/reviews"))
    }
}
