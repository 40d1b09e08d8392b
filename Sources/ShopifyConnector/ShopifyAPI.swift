import ETLCore
import Foundation
import HTTPClient
import Logging

/// Shopify Admin REST calls with Shopify's rules: paced by the call-limit header, 429s waited out
/// per `Retry-After`, 5xx, timeouts, resets and unparsable pages retried with backoff (lowering the
/// page size when pages keep failing), and 4xx answered with what to check. An actor, so that the
/// reader can fetch the next page in the background while the runner loads the current one.
actor ShopifyAPI {
    /// The page size never goes below this when lowered after failures.
    static let minimumPageSize = 10
    /// Consecutive good pages after which a lowered page size is doubled again.
    static let pagesBeforeRaisingSize = 10

    private let source: ShopifyOrdersSource
    private let client: HTTPClient
    private let logger: Logger
    private let clock = ContinuousClock()
    private var pacer = CallLimitPacer()
    private(set) var pageSize: Int
    private var goodPagesInARow = 0

    /// Where a task that makes one request after another should run: on the thread the requests
    /// run on (the client has one connection).
    nonisolated var transferExecutor: (any TaskExecutor)? { client.transferExecutor }

    init(source: ShopifyOrdersSource, logger: Logger) {
        self.source = source
        self.logger = logger
        pageSize = source.pageSize
        client = HTTPClient(configuration: .init(totalTimeout: source.requestTimeout, lowSpeedTime: min(source.requestTimeout, .seconds(30)), maxConnections: 1))
    }

    /// The number of orders in the shop, every status, for progress and ETA.
    func orderCount() async throws -> Int? {
        try await get(url(for: "orders/count.json", query: [("status", "any")]), adaptsPageSize: false) { response, _ throws(JSONParser.Error) in
            guard case .int(let count)? = try JSONParser.parse(response.body)[path: FieldPath("count")!] else { return nil }
            return Int(count)
        }
    }

    /// Downloads a page of orders without looking inside it, so that the next page can be requested
    /// at once (see `OrdersPage.nextLink`); `OrdersPage.orders` decodes it later. The page size is
    /// lowered after repeated failures, and raised again after good pages.
    func ordersPage(_ request: PageRequest, onSent: (@Sendable () -> Void)? = nil) async throws -> OrdersPage {
        let page = try await get(try url(for: request), adaptsPageSize: true, onSent: onSent) { response, url throws(JSONParser.Error) in
            OrdersPage(url: url, body: response.body, nextLink: response.link(rel: "next"))
        }
        goodPagesInARow += 1
        if pageSize < source.pageSize, goodPagesInARow >= Self.pagesBeforeRaisingSize {
            pageSize = min(source.pageSize, pageSize * 2)
            goodPagesInARow = 0
        }
        return page
    }

    /// Downloads a page again, at the same address and size, until its body is JSON: for a page
    /// whose first body was not. Later pages were already requested from this page's end.
    func ordersPage(again page: OrdersPage, decoding: OrdersDecoding) async throws -> DecodedPage {
        logger.warning("a page of orders was not valid JSON; fetching it again")
        let result = try await get(page.url, adaptsPageSize: false) { response, url throws(JSONParser.Error) -> Result<DecodedPage?, any Error> in
            do {
                return .success(try OrdersPage(url: url, body: response.body, nextLink: nil).decode(decoding))
            } catch let error as JSONParser.Error {
                throw error
            } catch {
                return .failure(error)
            }
        }
        guard let decoded = try result.get() else { throw page.notAnOrdersPage }
        return decoded
    }

    private func url(for path: String, query: [(String, String)]) -> String {
        var components = URLComponents(string: "\(source.shop)/admin/api/\(source.apiVersion)/\(path)")!
        components.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) }
        return components.string!
    }

    /// A page's address. A `Link` URL is followed only on the shop's own address: the access token
    /// goes wherever the request goes. It is taken as it is, not parsed: it is used once per page.
    private func url(for request: PageRequest) throws -> String {
        switch request {
        case .after(let sinceID):
            return url(for: "orders.json", query: [("status", "any"), ("since_id", String(sinceID)), ("limit", String(pageSize)),
                                                   ("fields", source.fields.joined(separator: ","))])
        case .link(let link):
            guard source.shop.owns(link) else {
                throw ETLError(.stageFailed, "Shopify's Link header points away from the shop (\(link.prefix(120))); not following it with the access token")
            }
            // Printable ASCII only, as in Shopify's percent-encoded links.
            guard link.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw ETLError(.stageFailed, "Shopify's Link header gave a next-page address that is not a URL (\(link.prefix(120))); resume to continue from the last checkpoint with since_id")
            }
            return link
        }
    }

    /// One GET with pacing and retries; returns the 200 response as `decode` reads it (with the URL
    /// it came from). A body `decode` rejects is retried like a failed request. With
    /// `adaptsPageSize`, `limit` is the current page size on every attempt.
    private func get<Decoded>(_ url: String, adaptsPageSize: Bool, onSent: (@Sendable () -> Void)? = nil,
                              decode: (HTTPResponse, String) throws(JSONParser.Error) -> Decoded) async throws -> Decoded {
        var request = HTTPRequest(url: url)
        request.onSent = onSent
        request.headers = [("X-Shopify-Access-Token", source.accessToken.value), ("Accept", "application/json")]
        var name: String { requestName(url) }

        return try await source.retry.run({
            let wait = pacer.delay(at: clock.now)
            if wait > .zero { try await Task.sleep(for: wait) }
            if adaptsPageSize { request.url = Self.settingLimit(in: url, to: pageSize) }
            let response = try await client.execute(request)
            if let limit = response.header("x-shopify-shop-api-call-limit").flatMap(Self.parseCallLimit) {
                pacer.observe(used: limit.used, capacity: limit.size, at: clock.now)
            }
            switch response.status {
            case 200:
                do {
                    return try decode(response, request.url)
                } catch {
                    throw RetryableFailure(message: "\(name) returned a body that is not valid JSON (\(error))", retryAfter: nil)
                }
            case 429:
                pacer.throttled(at: clock.now)
                let retryAfter = Duration.seconds(response.header("retry-after").flatMap { Double($0.trimmingCharacters(in: .whitespaces)) } ?? 1)
                throw RetryableFailure(message: "\(name) was throttled (HTTP 429)", retryAfter: retryAfter)
            case 500...599:
                throw RetryableFailure(message: "\(name) failed with HTTP \(response.status)", retryAfter: nil)
            default:
                throw fatal(response, name: name)
            }
        }, retryingWhen: { error in
            switch error {
            case let failure as RetryableFailure: failure.retryAfter.map(RetryDecision.retryAfter) ?? .retry
            case let error as HTTPClientError where error.isRetryable: .retry
            default: .fail
            }
        }, onRetry: { error, attempt, delay in
            guard (error as? RetryableFailure)?.retryAfter == nil else {
                logger.notice("throttled by Shopify; waiting \(delay) as Retry-After asks")
                return
            }
            goodPagesInARow = 0
            if adaptsPageSize, attempt >= 2, pageSize > Self.minimumPageSize {
                pageSize = max(Self.minimumPageSize, pageSize / 2)
                logger.warning("lowering the page size to \(pageSize) after repeated failures")
            }
            logger.warning("\(Self.describe(error)); retry \(attempt) in \(delay)")
        }, exhausted: { error, attempts, elapsed in
            ETLError(.stageFailed, "\(Self.describe(error)); gave up after \(attempts) attempts over \(Int(elapsed / .seconds(1)))s (max_retry_seconds). Check the shop's status, then resume")
        })
    }

    /// A failure worth another try: its description, and how long Shopify asked to wait.
    private struct RetryableFailure: Error {
        let message: String
        let retryAfter: Duration?
    }

    private static func describe(_ error: any Error) -> String {
        (error as? RetryableFailure)?.message ?? String(describing: error)
    }

    /// `url` with the value of its `limit` query parameter, if it has one, set to `size`.
    static func settingLimit(in url: String, to size: Int) -> String {
        guard let query = url.firstIndex(of: "?") else { return url }
        let limit = "limit=\(size)"
        var parameters = url[url.index(after: query)...].split(separator: "&", omittingEmptySubsequences: false)
        var changed = false
        for index in parameters.indices where parameters[index].hasPrefix("limit=") && parameters[index] != limit {
            parameters[index] = limit[...]
            changed = true
        }
        return changed ? url[...query] + parameters.joined(separator: "&") : url
    }

    /// `used/size` from `X-Shopify-Shop-Api-Call-Limit`. Read on every page: no Foundation trimming.
    static func parseCallLimit(_ value: String) -> (used: Int, size: Int)? {
        let parts = value.split(separator: "/").map { $0.filter { $0 != " " && $0 != "\t" } }
        guard parts.count == 2, let used = Int(parts[0]), let size = Int(parts[1]), size > 0 else { return nil }
        return (used, size)
    }

    /// A 4xx that retrying cannot fix, as an error that says what to check. Never the token.
    private func fatal(_ response: HTTPResponse, name: String) -> ETLError {
        let token = source.accessToken.origin
        let advice: String
        switch response.status {
        case 401: advice = "Shopify rejected the access token; check \(token) (a valid Admin API access token of this shop's app)"
        case 402: advice = "the shop is frozen (payment required); it must pay its Shopify bill before its API answers"
        case 403: advice = "the access token lacks a scope; the app needs read_orders (and read_all_orders for orders older than 60 days): grant it and set the new token in \(token)"
        case 404: advice = "not found: check the shop address \(source.shop) (shop_url) and the API version \(source.apiVersion) (api_version)"
        case 423: advice = "the shop is locked by Shopify; contact Shopify support"
        default:
            let detail = String(decoding: response.body.prefix(300), as: UTF8.self)
            advice = "Shopify refused the request: \(detail.isEmpty ? "no details" : detail)"
        }
        return ETLError(.stageFailed, "\(name) answered HTTP \(response.status): \(advice)")
    }
}

/// Where a page of orders is: after an order id (`since_id`), or at the `Link` URL Shopify gave for
/// the page after another.
enum PageRequest: Sendable {
    case after(sinceID: Int64)
    case link(String)
}

/// A page of orders as downloaded, not yet decoded.
struct OrdersPage: Sendable {
    static let idsOnly = OrdersDecoding.fields(.keys(["id": .everything]))

    /// The URL the page came from, with the `limit` it was requested with.
    let url: String
    let body: [UInt8]
    /// The `rel="next"` URL of the page's `Link` header, if it had one.
    let nextLink: String?

    /// The page's orders as `decoding` says; `nil` when the body is JSON without an `orders`
    /// array. Throws `JSONParser.Error` when the body is not JSON.
    func decode(_ decoding: OrdersDecoding) throws -> DecodedPage? {
        switch decoding {
        case .fields(let fields):
            guard case .array(let orders)? = try JSONParser.parse(body, reading: .keys(["orders": fields]))[path: FieldPath("orders")!] else { return nil }
            return DecodedPage(rows: .values(orders), ids: try orders.map { order in
                guard case .int(let id)? = order[path: Self.idPath] else { throw Self.noID(JSONWriter.string(order)) }
                return id
            })
        case .flattening(let flattening):
            var table = RowTable(columns: flattening.columns.map(\.name))
            let kept = try body.withUnsafeBufferPointer { body in
                try JSONParser.flatten(body, recordsAt: "orders", flattening, into: &table, keeping: "id")
            }
            guard let kept else { return nil }
            table.trimCapacity()
            return DecodedPage(rows: .table(table), ids: try kept.map { id in
                guard case .int(let id) = id else { throw Self.noID("an id of \(JSONWriter.string(id))") }
                return id
            })
        }
    }

    private static let idPath = FieldPath("id")!

    private static func noID(_ order: String) -> ETLError {
        ETLError(.stageFailed, "shopify.orders: an order without an integer id: \(order.prefix(200))")
    }

    var notAnOrdersPage: ETLError {
        ETLError(.stageFailed, "\(requestName(url)) answered 200 without an \"orders\" array; is shop_url a Shopify shop?")
    }

    /// The request for the page after this one: its `Link`, else `since_id` of its last order;
    /// `nil` after an empty page, the end of the orders.
    func nextRequest(refetchingWith api: ShopifyAPI) async throws -> PageRequest? {
        if let nextLink { return .link(nextLink) }
        return try await decode(Self.idsOnly, refetchingWith: api).ids.last.map { .after(sinceID: $0) }
    }

    /// The page's orders; a body that is not JSON (cut short, say) is fetched again.
    func decode(_ decoding: OrdersDecoding, refetchingWith api: ShopifyAPI) async throws -> DecodedPage {
        let decoded: DecodedPage?
        do {
            decoded = try decode(decoding)
        } catch is JSONParser.Error {
            return try await api.ordersPage(again: self, decoding: decoding)
        }
        guard let decoded else { throw notAnOrdersPage }
        return decoded
    }
}

/// What the reader makes of a page: orders with the fields the pipeline reads, or straight the
/// rows of the pipeline's first step, a flattening.
enum OrdersDecoding: Sendable {
    case fields(FieldSelection)
    case flattening(Flattening)
}

/// A page's orders as rows, with their ids in page order.
struct DecodedPage: Sendable {
    let rows: Rows
    let ids: [Int64]
}

/// How errors name a GET: its URL without the query (page cursors and field lists, long and no help).
private func requestName(_ url: String) -> String {
    "GET " + url.prefix { $0 != "?" }
}
