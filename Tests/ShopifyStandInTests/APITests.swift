import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import ShopifyStandInKit

@Suite("Orders API")
struct APITests {
    @Test("same seed, same bytes over HTTP")
    func determinismOverHTTP() async throws {
        let uri = "\(apiBase)/orders.json?status=any&limit=250"
        let first = try await withStandIn(seed: 99) { _, client in try await client.get(uri).body.bytes }
        let second = try await withStandIn(seed: 99) { _, client in try await client.get(uri).body.bytes }
        let other = try await withStandIn(seed: 100) { _, client in try await client.get(uri).body.bytes }
        #expect(first == second)
        #expect(first != other)
    }

    @Test("status defaults to open; any = open + closed + cancelled")
    func statusDefault() async throws {
        try await withStandIn { standIn, client in
            let shop = standIn.shop
            func count(_ query: String) async throws -> Int {
                try await client.get("\(apiBase)/orders/count.json\(query)").json["count"] as! Int
            }
            let byDefault = try await count("")
            let open = try await count("?status=open")
            let closed = try await count("?status=closed")
            let cancelled = try await count("?status=cancelled")
            let any = try await count("?status=any")
            #expect(byDefault == open && open == shop.count(status: .open))
            #expect(any == open + closed + cancelled && any == shop.orderCount)
            #expect(closed > 0 && cancelled > 0)

            let page = try await client.get("\(apiBase)/orders.json?limit=250")
            let expected = shop.orders(status: .open).prefix(250).map(\.id)
            #expect(try page.orderIDs == expected)
            #expect(try page.orders.allSatisfy { $0["cancelled_at"] is NSNull && $0["closed_at"] is NSNull })
        }
    }

    @Test("count.json honours since_id", arguments: [StatusFilter.any, .open, .cancelled])
    func countSinceID(status: StatusFilter) async throws {
        try await withStandIn { standIn, client in
            let since = standIn.shop.orderID(at: 200)
            let response = try await client.get("\(apiBase)/orders/count.json?status=\(status.rawValue)&since_id=\(since)")
            #expect(response.status == .ok)
            #expect(try response.json["count"] as? Int == standIn.shop.count(status: status, sinceID: since))
        }
    }

    @Test("a since_id walk with limit 250 returns every order exactly once, ascending")
    func sinceIDWalk() async throws {
        try await withStandIn(orders: 1234) { standIn, client in
            var seen: [Int] = []
            var sinceID = 0
            while true {
                let response = try await client.get("\(apiBase)/orders.json?status=any&limit=250&since_id=\(sinceID)&fields=id")
                #expect(response.status == .ok)
                let ids = try response.orderIDs
                if ids.isEmpty { break }
                #expect(ids.count <= 250)
                seen += ids
                sinceID = ids.last!
            }
            #expect(seen == standIn.shop.orders().map(\.id))
            #expect(Set(seen).count == 1234)
        }
    }

    @Test("a Link walk returns every matching order once; previous goes back", arguments: [StatusFilter.any, .closed])
    func linkWalk(status: StatusFilter) async throws {
        try await withStandIn(orders: 1000) { standIn, client in
            let first = try await client.get("\(apiBase)/orders.json?status=\(status.rawValue)&limit=70&fields=id,line_items")
            #expect(first.link("previous") == nil, "no previous link on the first page")
            var response = first
            var seen = try response.orderIDs
            var pages = 1
            while let next = response.link("next") {
                #expect(next.contains("limit=70") && next.contains("fields=id%2Cline_items") && !next.contains("status"))
                response = try await client.get(next)
                #expect(response.status == .ok)
                #expect(response.link("previous") != nil)
                seen += try response.orderIDs
                pages += 1
                if pages == 2 {
                    let back = try await client.get(try #require(response.link("previous")))
                    #expect(try back.orderIDs == first.orderIDs)
                }
            }
            #expect(seen == standIn.shop.orders(status: status).map(\.id))
            #expect(try Set(response.orders.flatMap { $0.keys }) == ["id", "line_items"])
        }
    }

    @Test("the Link URL uses the request's host and page_info keeps the since_id floor")
    func linkHeaderShape() async throws {
        try await withStandIn { standIn, client in
            let since = standIn.shop.orderID(at: 100)
            let first = try await client.get("\(apiBase)/orders.json?status=any&limit=5&since_id=\(since)")
            let header = try #require(first.headers[linkHeader])
            #expect(header.hasPrefix("<http://localhost/admin/api/2026-10/orders.json?limit=5&page_info="))
            #expect(header.hasSuffix(">; rel=\"next\""))
            let second = try await client.get(try #require(first.link("next")))
            let back = try await client.get(try #require(second.link("previous")))
            #expect(try back.orderIDs == first.orderIDs)
            #expect(back.link("previous") == nil, "nothing before the since_id floor")
        }
    }

    @Test("page_info with any parameter but limit and fields is a 400", arguments: ["since_id=1", "status=any", "foo=bar"])
    func pageInfoWithOtherParameters(extra: String) async throws {
        try await withStandIn { _, client in
            let first = try await client.get("\(apiBase)/orders.json?limit=10")
            let next = try #require(first.link("next"))
            let response = try await client.get("\(next)&\(extra)")
            #expect(response.status == .badRequest)
            let errors = try #require(try response.json["errors"] as? [String: String])
            #expect(errors["page_info"]?.contains(String(extra.prefix { $0 != "=" })) == true)
            let allowed = try await client.get(next.replacingOccurrences(of: "limit=10", with: "limit=20") + "&fields=id")
            #expect(allowed.status == .ok)
            #expect(try allowed.orderIDs.count == 20)
        }
    }

    @Test("an invalid page_info is a 400")
    func invalidPageInfo() async throws {
        try await withStandIn { _, client in
            let response = try await client.get("\(apiBase)/orders.json?page_info=bm9wZQ")
            #expect(response.status == .badRequest)
            #expect(response.text == #"{"errors":{"page_info":"Invalid value."}}"#)
        }
    }

    @Test("limit must be an integer in 1...250", arguments: ["251", "0", "-1", "abc", ""])
    func invalidLimit(limit: String) async throws {
        try await withStandIn { _, client in
            let response = try await client.get("\(apiBase)/orders.json?limit=\(limit)")
            #expect(response.status == .badRequest)
            #expect(try (response.json["errors"] as? [String: String])?["limit"] != nil)
        }
    }

    @Test("limit 250 and the default of 50")
    func limits() async throws {
        try await withStandIn { _, client in
            let full = try await client.get("\(apiBase)/orders.json?status=any&limit=250")
            let byDefault = try await client.get("\(apiBase)/orders.json?status=any")
            #expect(try full.orderIDs.count == 250)
            #expect(try byDefault.orderIDs.count == 50)
        }
    }

    @Test("invalid status and since_id are 400s")
    func invalidStatus() async throws {
        try await withStandIn { _, client in
            for uri in ["orders.json?status=bogus", "orders/count.json?status=Any", "orders.json?since_id=x"] {
                let response = try await client.get("\(apiBase)/\(uri)")
                #expect(response.status == .badRequest, "\(uri)")
                #expect(try response.json["errors"] is [String: String])
            }
        }
    }

    @Test("a wrong or missing token is a 401 with Shopify's body")
    func badToken() async throws {
        try await withStandIn { _, client in
            for token in ["shpat_wrong", nil] {
                let response = try await client.get("\(apiBase)/orders.json", token: token)
                #expect(response.status == .unauthorized)
                #expect(response.text == #"{"errors":"[API] Invalid API key or access token (unrecognized login or wrong password)"}"#)
            }
        }
    }

    @Test("unknown API versions and paths are 404s")
    func notFound() async throws {
        try await withStandIn { _, client in
            for uri in ["/admin/api/2019-04/orders.json", "/admin/api/unstable/orders.json", "\(apiBase)/products.json"] {
                let response = try await client.get(uri)
                #expect(response.status == .notFound, "\(uri)")
                #expect(response.text == #"{"errors":"Not Found"}"#)
                #expect(response.headers[callLimitHeader] != nil)
            }
            #expect(try await client.get("/nowhere").status == .notFound)
        }
    }

    @Test("fields selects top-level fields; all fields by default")
    func fields() async throws {
        try await withStandIn { _, client in
            let some = try await client.get("\(apiBase)/orders.json?fields=id,line_items,%20name,nonsense")
            #expect(try some.orders.allSatisfy { Set($0.keys) == ["id", "line_items", "name"] })
            let all = try await client.get("\(apiBase)/orders.json?limit=1")
            let keys = try Set(all.orders[0].keys)
            #expect(keys.isSuperset(of: ["id", "admin_graphql_api_id", "name", "email", "created_at", "updated_at",
                                         "financial_status", "fulfillment_status", "currency", "total_price", "customer",
                                         "billing_address", "shipping_address", "line_items"]))
            let item = try #require((try all.orders[0]["line_items"] as? [[String: Any]])?.first)
            #expect(Set(item.keys).isSuperset(of: ["id", "product_id", "variant_id", "title", "variant_title", "sku", "quantity", "price"]))
            let customer = try #require(try all.orders[0]["customer"] as? [String: Any])
            #expect(customer["default_address"] is [String: Any])
        }
    }

    @Test("every API response carries the call limit header, and 429 follows a full bucket")
    func rateLimit() async throws {
        let configuration = StandInConfiguration(bucketSize: 5, leakRate: 2)
        try await withStandIn(configuration: configuration) { standIn, client in
            var limits: [String] = []
            for _ in 0..<5 {
                let response = try await client.get("\(apiBase)/orders/count.json")
                #expect(response.status == .ok)
                limits.append(response.headers[callLimitHeader] ?? "missing")
            }
            // Leaking may free up to a unit between requests; the level still grows.
            #expect(limits.first == "1/5" && limits.last == "5/5")
            let throttled = try await client.get("\(apiBase)/orders.json")
            #expect(throttled.status == .tooManyRequests)
            #expect(throttled.headers[callLimitHeader] == "5/5")
            #expect(throttled.text == #"{"errors":"Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."}"#)
            let retryAfterHeader = try #require(throttled.headers[.retryAfter])
            let retryAfter = try #require(Double(retryAfterHeader))
            #expect(retryAfter > 0 && retryAfter <= 0.5)
            try await Task.sleep(for: .seconds(retryAfter + 0.05))
            let recovered = try await client.get("\(apiBase)/orders.json")
            #expect(recovered.status == .ok)
            #expect(recovered.headers[callLimitHeader] != nil)
            for response in [try await client.get("\(apiBase)/orders.json?limit=999"),
                             try await client.get("\(apiBase)/orders.json", token: "other")] {
                #expect(response.headers[callLimitHeader] != nil)
            }
            #expect(standIn.stats.throttled >= 1)
            #expect(standIn.stats.byStatus["429"] == standIn.stats.throttled)
        }
    }

    @Test("the stats endpoint reports counters and can be reset")
    func statsEndpoint() async throws {
        try await withStandIn { _, client in
            _ = try await client.get("\(apiBase)/orders.json?limit=7")
            _ = try await client.get("\(apiBase)/orders.json", token: "nope")
            let stats = try JSONDecoder().decode(StandInStats.self, from: Data(buffer: try await client.get("/_standin/stats").body))
            #expect(stats.requests == 2 && stats.byStatus == ["200": 1, "401": 1] && stats.ordersServed == 7)
            #expect(try await client.execute(uri: "/_standin/reset-stats", method: .post).status == .noContent)
            let reset = try JSONDecoder().decode(StandInStats.self, from: Data(buffer: try await client.get("/_standin/stats").body))
            #expect(reset == StandInStats())
        }
    }
}
