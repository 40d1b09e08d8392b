import Foundation
import Testing
@testable import ShopifyStandInKit

@Suite("Shop generation")
struct ShopTests {
    @Test("the same seed gives the same shop, byte for byte; another seed another shop")
    func determinism() {
        let first = Shop(orderCount: 300, seed: 42)
        let second = Shop(orderCount: 300, seed: 42)
        let other = Shop(orderCount: 300, seed: 43)
        let indices = Array(0..<300)
        #expect(first.renderOrders(indices, fields: .all) == second.renderOrders(indices, fields: .all))
        #expect(Array(first.orders()) == Array(second.orders()))
        #expect(first.renderOrders(indices, fields: .all) != other.renderOrders(indices, fields: .all))
    }

    @Test("ids grow strictly with random gaps and stay below 2^53; line item ids are unique and increasing")
    func ids() {
        let shop = Shop(orderCount: 2000, seed: 9)
        let orders = Array(shop.orders())
        let ids = orders.map(\.id)
        #expect(ids.first! >= 5_000_000_000)
        #expect(ids.last! < 1 << 53)
        let gaps = zip(ids.dropFirst(), ids).map { $0 - $1 }
        #expect(gaps.allSatisfy { $0 > 0 })
        #expect(Set(gaps).count > 500, "gaps should vary")
        let lineItemIDs = orders.flatMap { $0.lineItems.map(\.id) }
        #expect(zip(lineItemIDs.dropFirst(), lineItemIDs).allSatisfy { $0 > $1 })
        #expect(orders.allSatisfy { (1...5).contains($0.lineItems.count) })
        #expect(orders.allSatisfy { $0.lineItems.allSatisfy { $0.quantity >= 1 } })
        #expect(orders.contains { $0.lineItems.contains { $0.quantity > 5 } }, "some large quantities")
        #expect(orders.first!.name == "#1001")
    }

    @Test("since_id maps to the first later order")
    func firstIndexAfterID() {
        let shop = Shop(orderCount: 500, seed: 3)
        #expect(shop.firstIndex(afterID: 0) == 0)
        for index in [0, 1, 250, 499] {
            let id = shop.orderID(at: index)
            #expect(shop.firstIndex(afterID: id) == index + 1)
            #expect(shop.firstIndex(afterID: id - 1) == index)
        }
        #expect(shop.firstIndex(afterID: Int.max / 2) == 500)
    }

    @Test("about 70% open, 20% closed, 10% cancelled; counts add up")
    func statusMix() {
        let shop = Shop(orderCount: 10_000, seed: 5)
        let open = shop.count(status: .open)
        let closed = shop.count(status: .closed)
        let cancelled = shop.count(status: .cancelled)
        #expect(open + closed + cancelled == shop.count(status: .any))
        #expect((6700...7300).contains(open))
        #expect((1700...2300).contains(closed))
        #expect((800...1200).contains(cancelled))
        let since = shop.orderID(at: 4999)
        #expect(shop.count(status: .any, sinceID: since) == 5000)
        #expect(shop.count(status: .open, sinceID: since) == shop.orders(status: .open, sinceID: since).reduce(0) { n, _ in n + 1 })
    }

    @Test("cancelled orders are closed and carry a reason; closed orders a closed_at")
    func statusFields() throws {
        let shop = Shop(orderCount: 200, seed: 11)
        let orders = try parseOrders(shop.renderOrders(Array(0..<200), fields: .all))
        for order in orders {
            let id = order["id"] as! Int
            let status = shop.summary(at: shop.firstIndex(afterID: id - 1)).status
            switch status {
            case .open:
                #expect(order["closed_at"] is NSNull && order["cancelled_at"] is NSNull)
            case .closed:
                #expect(order["closed_at"] is String && order["cancelled_at"] is NSNull)
            case .cancelled:
                #expect(order["closed_at"] is String && order["cancelled_at"] is String && order["cancel_reason"] is String)
            }
        }
    }

    @Test("awkward titles survive JSON rendering byte for byte")
    func awkwardTitles() throws {
        let titles = Catalogue.standard.products.map(\.title)
        #expect((50...200).contains(titles.count))
        for needle in ["Tee", "Tee ", "  Padded Socks  ", "Nul\u{0}Byte Keychain", "Line One\nLine Two Scarf", "Back\\Slash Poster"] {
            #expect(titles.contains { $0.utf8.elementsEqual(needle.utf8) }, "missing \(needle.debugDescription)")
        }
        #expect(titles.contains { $0.count == 300 })
        let cafe = titles.filter { $0 == "Caf\u{E9} Cr\u{E8}me Mug" }
        #expect(cafe.count == 2, "NFC and NFD spellings are both present")

        let shop = Shop(orderCount: 3000, seed: 1)
        let orders = try parseOrders(shop.renderOrders(Array(0..<3000), fields: FieldSet(parameter: "id,line_items")))
        let rendered = orders.flatMap { ($0["line_items"] as! [[String: Any]]).map { Array(($0["title"] as! String).utf8) } }
        let expected = shop.orders().flatMap { $0.lineItems.map { Array($0.title.utf8) } }
        #expect(rendered == expected)
        #expect(Set(expected).count > 60, "most of the catalogue is sold")
    }

    @Test("popularity is skewed, and twin titles tie in the top products")
    func topProducts() {
        let shop = Shop(orderCount: 5000, seed: 2)
        let top = shop.topProducts(count: 200)
        #expect(top.map(\.rank) == Array(1...top.count))
        #expect(top[0].cntBought > 4 * top[29].cntBought)
        let tee = top.filter { $0.title.hasPrefix("Tee") }
        #expect(tee.count == 2 && tee[0].cntBought == tee[1].cntBought)
        #expect(tee[0].title == "Tee" && tee[1].title == "Tee " && tee[0].rank < tee[1].rank)
        let cafe = top.filter { $0.title == "Caf\u{E9} Cr\u{E8}me Mug" }
        #expect(cafe.count == 2 && cafe[0].cntBought == cafe[1].cntBought)
        #expect(zip(top, top.dropFirst()).allSatisfy { $0.cntBought >= $1.cntBought })
    }

    @Test("300,000 orders are cheap to build and to page through")
    func largeShop() {
        let clock = ContinuousClock()
        let start = clock.now
        let shop = Shop(orderCount: 300_000, seed: 8)
        #expect(shop.count(status: .any) == 300_000)
        let page = shop.renderOrders(shop.indices(status: .any, from: 299_800, limit: 250), fields: .all)
        #expect(page.count > 100_000)
        #expect(clock.now - start < .seconds(5))
    }

    @Test("JSON strings are escaped like Shopify's")
    func escaping() {
        let encoded = String(decoding: JSONOut.encodedString("a\"b\\c\n\t\u{0}<&>\u{2028}é🔥"), as: UTF8.self)
        #expect(encoded == #""a\"b\\c\n\t\u0000\u003c\u0026\u003e\u2028é🔥""#)
        var out = JSONOut()
        out.date(1_672_531_200, offsetMinutes: -300)
        #expect(String(decoding: out.bytes, as: UTF8.self) == "\"2022-12-31T19:00:00-05:00\"")
    }

    @Test("page_info round-trips and rejects tampering")
    func pageInfo() {
        let info = PageInfo(direction: .next, cursor: 5_012_345_678, floor: 17, status: .any)
        #expect(PageInfo(encoded: info.encoded) == info)
        #expect(!info.encoded.contains("="))
        #expect(PageInfo(encoded: info.encoded + "A") == nil)
        #expect(PageInfo(encoded: "not base64!") == nil)
        #expect(PageInfo(encoded: Base64URL.encode(Array("v1.x.1..any".utf8))) == nil)
    }

    @Test("the leaky bucket fills, refuses with the time to leak one unit, and leaks fractionally")
    func leakyBucket() {
        let bucket = LeakyBucket(size: 3, leakRate: 2)
        let start = ContinuousClock.now
        #expect(bucket.take(key: "a", now: start).used == 1)
        #expect(bucket.take(key: "a", now: start).used == 2)
        #expect(bucket.take(key: "a", now: start) == .init(accepted: true, used: 3, retryAfter: nil))
        let refused = bucket.take(key: "a", now: start)
        #expect(!refused.accepted && refused.used == 3 && refused.retryAfter == 0.5)
        #expect(bucket.take(key: "b", now: start).used == 1, "buckets are per token")
        #expect(!bucket.take(key: "a", now: start + .milliseconds(400)).accepted)
        #expect(bucket.take(key: "a", now: start + .milliseconds(500)).accepted)
        #expect(bucket.take(key: "a", now: start + .seconds(10)).used == 1)
        #expect(ShopifyStandIn.formatSeconds(0.5) == "0.5" && ShopifyStandIn.formatSeconds(2) == "2.0")
        #expect(ShopifyStandIn.formatSeconds(0.0001) == "0.001")
    }
}

func parseOrders(_ bytes: [UInt8]) throws -> [[String: Any]] {
    let object = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
    return try #require(object?["orders"] as? [[String: Any]])
}
