import ETLCore
import Foundation
import HTTPClient

/// `shopify.orders` source: every order of a shop through the Admin REST API, oldest id first.
///
/// Pages are requested with `status=any` (Shopify's default, `open`, would lose closed and
/// cancelled orders), `since_id` (ascending ids: a stable cursor that survives crashes, unlike
/// `page_info`, which cannot be combined with `status` or `since_id`) and only the configured
/// `fields`. A batch is `pages_per_batch` pages (fewer, bigger inserts and checkpoints); the cursor
/// is the last order id of the batch.
public struct ShopifyOrdersSource: Source {
    /// A version Shopify supports as of this release; set `api_version` to pin another.
    public static let defaultAPIVersion = "2026-10"

    let shop: ShopURL
    let accessToken: Secret
    let apiVersion: String
    let pageSize: Int
    let pagesPerBatch: Int
    let fields: [String]
    let requestTimeout: Duration
    let retry: RetryPolicy

    public static func register(into registry: inout ComponentRegistry) {
        registry.registerSource("shopify.orders") { config in
            let shopText = config.string("shop_url", required: true)
            let token = config.secret("access_token", required: true)
            let apiVersion = config.string("api_version", default: defaultAPIVersion)
            let pageSize = config.int("page_size", default: 250, in: 1...250)
            let pagesPerBatch = config.int("pages_per_batch", default: 8, in: 1...100)
            let fieldsText = config.string("fields", default: "id,line_items")
            let timeout = config.int("request_timeout_seconds", default: 60, in: 1...3600)
            let giveUp = config.int("max_retry_seconds", default: 300, in: 0...86_400)

            var shop: ShopURL?
            if let shopText {
                shop = ShopURL(shopText)
                if shop == nil {
                    config.report("\"\(shopText)\" is not a shop address (use my-shop.myshopify.com or a full http(s) URL)", at: "shop_url")
                }
            }
            if apiVersion.wholeMatch(of: /\d{4}-\d{2}|unstable/) == nil {
                config.report("\"\(apiVersion)\" is not an API version (like \(defaultAPIVersion))", at: "api_version")
            }
            // `id` is always requested: the cursor is made of it.
            let fields = ["id"] + fieldsText.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0 != "id" && !$0.isEmpty }
            guard let shop, let token else { return nil }
            return ShopifyOrdersSource(shop: shop, accessToken: token, apiVersion: apiVersion, pageSize: pageSize, pagesPerBatch: pagesPerBatch, fields: fields,
                                       requestTimeout: .seconds(timeout), retry: RetryPolicy(giveUpAfter: .seconds(giveUp)))
        }
    }

    public func openReader(after cursor: JSONValue?, context: StageContext) async throws -> any SourceReader {
        var sinceID: Int64 = 0
        if let cursor {
            guard case .int(let saved)? = cursor[path: FieldPath("since_id")!] else {
                throw ETLError(.stageFailed, "shopify.orders: the saved cursor \(JSONWriter.string(cursor)) is not a shopify.orders cursor")
            }
            sinceID = saved
        }
        let api = ShopifyAPI(source: self, logger: context.logger)
        let total = try await api.orderCount()
        return ShopifyOrdersReader(api: api, sinceID: sinceID, pagesPerBatch: pagesPerBatch, expectedTotal: total)
    }
}

/// Hands out `pagesPerBatch` pages per batch and always has the next page on its way, so that
/// downloading overlaps transforming and loading. A page fetched ahead and never handed out (the
/// process stopped or died) is simply fetched again on resume: the cursor only moves with
/// checkpoints.
final class ShopifyOrdersReader: SourceReader {
    private let api: ShopifyAPI
    private var sinceID: Int64
    private let pagesPerBatch: Int
    private var ahead: Task<[JSONValue], any Error>?
    private var finished = false
    let expectedTotal: Int?

    init(api: ShopifyAPI, sinceID: Int64, pagesPerBatch: Int, expectedTotal: Int?) {
        self.api = api
        self.sinceID = sinceID
        self.pagesPerBatch = pagesPerBatch
        self.expectedTotal = expectedTotal
    }

    deinit {
        ahead?.cancel()
    }

    func next() async throws -> SourceBatch? {
        var orders: [JSONValue] = []
        for _ in 0..<pagesPerBatch where !finished {
            let page = try await (ahead ?? fetch(after: sinceID)).value
            ahead = nil
            guard let last = page.last else {
                finished = true
                break
            }
            guard case .int(let lastID)? = last[path: FieldPath("id")!] else {
                throw ETLError(.stageFailed, "shopify.orders: an order without an integer id in the page after since_id=\(sinceID)")
            }
            sinceID = lastID
            ahead = fetch(after: lastID)
            orders += page
        }
        guard !orders.isEmpty else { return nil }
        return SourceBatch(records: orders, cursor: .object(JSONObject([("since_id", .int(sinceID))])))
    }

    private func fetch(after sinceID: Int64) -> Task<[JSONValue], any Error> {
        Task { [api] in try await api.ordersPage(sinceID: sinceID) }
    }
}

/// A shop's address: `my-shop.myshopify.com` means https; a full URL is kept (an `http://` one is
/// honoured, for local stand-ins).
struct ShopURL: Sendable, CustomStringConvertible {
    let base: String

    init?(_ text: String) {
        var text = text.trimmingCharacters(in: .whitespaces)
        while text.hasSuffix("/") { text.removeLast() }
        if !text.contains("://") { text = "https://" + text }
        guard let components = URLComponents(string: text), let scheme = components.scheme, ["http", "https"].contains(scheme),
              let host = components.host, !host.isEmpty, components.path.isEmpty, components.query == nil, components.user == nil
        else { return nil }
        base = text
    }

    var description: String { base }
}
