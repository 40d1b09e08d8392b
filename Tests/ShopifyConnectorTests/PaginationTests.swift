@testable import ShopifyConnector
import Testing

struct PaginationTests {
    @Test func theNextLinkIsReadFromShopifysLinkHeader() {
        let next = "https://shop.myshopify.com/admin/api/2026-10/orders.json?limit=250&page_info=abc"
        let previous = "https://shop.myshopify.com/admin/api/2026-10/orders.json?limit=250&page_info=xyz"
        #expect(ShopifyAPI.nextLink("<\(next)>; rel=\"next\"") == next)
        #expect(ShopifyAPI.nextLink("<\(previous)>; rel=\"previous\", <\(next)>; rel=\"next\"") == next)
        #expect(ShopifyAPI.nextLink("<\(previous)>; rel=\"previous\"") == nil)
        #expect(ShopifyAPI.nextLink("") == nil)
        #expect(ShopifyAPI.nextLink("garbage; rel=\"next\"") == nil)
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
