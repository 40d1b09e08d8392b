import HTTPClient
@testable import ShopifyConnector
import Testing

struct PaginationTests {
    @Test func theNextLinkIsReadFromShopifysLinkHeader() {
        let next = "https://shop.myshopify.com/admin/api/2026-10/orders.json?limit=250&page_info=abc"
        let previous = "https://shop.myshopify.com/admin/api/2026-10/orders.json?limit=250&page_info=xyz"
        func nextLink(_ header: String) -> String? { HTTPResponse(status: 200, headers: [("Link", header)]).link(rel: "next") }
        #expect(nextLink("<\(next)>; rel=\"next\"") == next)
        #expect(nextLink("<\(previous)>; rel=\"previous\", <\(next)>; rel=\"next\"") == next)
        #expect(nextLink(" <\(next)> ;\trel=next ") == next)
        #expect(nextLink("<\(previous)>; rel=\"previous\"") == nil)
        #expect(nextLink("") == nil)
        #expect(nextLink("garbage; rel=\"next\"") == nil)
        #expect(HTTPResponse(status: 200).link(rel: "next") == nil)
    }

    /// A page size lowered (or raised again) after failures replaces the `limit` of the links followed.
    @Test func theLimitOfALinkIsSetToThePageSize() {
        let link = "https://shop.myshopify.com/admin/api/2026-10/orders.json?limit=250&page_info=abc"
        #expect(ShopifyAPI.settingLimit(in: link, to: 125) == "https://shop.myshopify.com/admin/api/2026-10/orders.json?limit=125&page_info=abc")
        #expect(ShopifyAPI.settingLimit(in: link, to: 250) == link)
        #expect(ShopifyAPI.settingLimit(in: "https://s.example/o.json?page_info=a&limit=10", to: 20) == "https://s.example/o.json?page_info=a&limit=20")
        #expect(ShopifyAPI.settingLimit(in: "https://s.example/o.json?page_info=a&climit=10", to: 20) == "https://s.example/o.json?page_info=a&climit=10")
        #expect(ShopifyAPI.settingLimit(in: "https://s.example/o.json", to: 20) == "https://s.example/o.json")
    }

    /// The access token goes with every request: links elsewhere are not followed.
    @Test func onlyLinksOnTheShopsOwnAddressAreFollowed() {
        let shop = ShopURL("shop.myshopify.com")!
        #expect(shop.owns("https://shop.myshopify.com/admin/api/2026-10/orders.json?page_info=a"))
        #expect(!shop.owns("https://shop.myshopify.com.attacker.example/admin/api/2026-10/orders.json"))
        #expect(!shop.owns("http://shop.myshopify.com/admin/api/2026-10/orders.json"))
        #expect(!shop.owns("https://other.myshopify.com/admin/api/2026-10/orders.json"))
        let local = ShopURL("http://127.0.0.1:8080")!
        #expect(local.owns("http://127.0.0.1:8080/admin/api/2026-10/orders.json?page_info=a"))
        #expect(!local.owns("http://127.0.0.1:8081/admin/api/2026-10/orders.json"))
    }
}
