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
    private var random = SystemRandomNumberGenerator()
    private(set) var pageSize: Int
    private var goodPagesInARow = 0

    init(source: ShopifyOrdersSource, logger: Logger) {
        self.source = source
        self.logger = logger
        pageSize = source.pageSize
        client = HTTPClient(configuration: .init(totalTimeout: source.requestTimeout, lowSpeedTime: min(source.requestTimeout, .seconds(30)), maxConnections: 1))
    }

    /// The number of orders in the shop, every status, for progress and ETA.
    func orderCount() async throws -> Int? {
        let body = try await get("orders/count.json", query: [("status", "any")], isPage: false)
        guard case .int(let count)? = body[path: FieldPath("count")!] else { return nil }
        return Int(count)
    }

    /// The next page of orders with ids above `sinceID`, ascending.
    func ordersPage(sinceID: Int64) async throws -> [JSONValue] {
        let query = [("status", "any"), ("since_id", String(sinceID)), ("limit", String(pageSize)), ("fields", source.fields.joined(separator: ","))]
        let body = try await get("orders.json", query: query, isPage: true)
        guard case .array(let orders)? = body[path: FieldPath("orders")!] else {
            throw ETLError(.stageFailed, "GET \(endpoint("orders.json")) answered 200 without an \"orders\" array; is shop_url a Shopify shop?")
        }
        goodPagesInARow += 1
        if pageSize < source.pageSize, goodPagesInARow >= Self.pagesBeforeRaisingSize {
            pageSize = min(source.pageSize, pageSize * 2)
            goodPagesInARow = 0
        }
        return orders
    }

    private func endpoint(_ path: String) -> String {
        "\(source.shop)/admin/api/\(source.apiVersion)/\(path)"
    }

    /// One GET with pacing and retries; returns the parsed JSON body of a 200.
    private func get(_ path: String, query: [(String, String)], isPage: Bool) async throws -> JSONValue {
        var components = URLComponents(string: endpoint(path))!
        components.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) }
        var request = HTTPRequest(url: components.url!.absoluteString)
        request.headers = [("X-Shopify-Access-Token", source.accessToken.value), ("Accept", "application/json")]
        let name = "GET \(endpoint(path))"

        var firstFailure: ContinuousClock.Instant?
        var attempt = 0
        while true {
            let wait = pacer.delay(at: clock.now)
            if wait > .zero { try await Task.sleep(for: wait) }
            if isPage, let limit = query.firstIndex(where: { $0.0 == "limit" }) {
                components.queryItems![limit] = URLQueryItem(name: "limit", value: String(pageSize))
                request.url = components.url!.absoluteString
            }
            let failure: String
            var retryAfter: Duration?
            do {
                let response = try await client.execute(request)
                if let limit = response.header("x-shopify-shop-api-call-limit").flatMap(Self.parseCallLimit) {
                    pacer.observe(used: limit.used, capacity: limit.size, at: clock.now)
                }
                switch response.status {
                case 200:
                    do {
                        return try JSONParser.parse(response.body)
                    } catch {
                        failure = "\(name) returned a body that is not valid JSON (\(error))"
                    }
                case 429:
                    pacer.throttled(at: clock.now)
                    retryAfter = .seconds(response.header("retry-after").flatMap { Double($0.trimmingCharacters(in: .whitespaces)) } ?? 1)
                    failure = "\(name) was throttled (HTTP 429)"
                case 500...599:
                    failure = "\(name) failed with HTTP \(response.status)"
                default:
                    throw fatal(response, name: name)
                }
            } catch let error as HTTPClientError where error.isRetryable {
                failure = error.description
            }

            attempt += 1
            let now = clock.now
            let since = firstFailure ?? now
            firstFailure = since
            let delay = retryAfter ?? source.retry.delay(beforeRetry: attempt, using: &random)
            guard source.retry.allowsRetry(elapsed: now - since, nextDelay: delay) else {
                throw ETLError(.stageFailed, "\(failure); gave up after \(attempt) attempts over \(Int((now - since) / .seconds(1)))s (max_retry_seconds). Check the shop's status, then resume")
            }
            if retryAfter == nil {
                goodPagesInARow = 0
                if isPage, attempt >= 2, pageSize > Self.minimumPageSize {
                    pageSize = max(Self.minimumPageSize, pageSize / 2)
                    logger.warning("lowering the page size to \(pageSize) after repeated failures")
                }
                logger.warning("\(failure); retry \(attempt) in \(delay)")
            } else {
                logger.notice("throttled by Shopify; waiting \(delay) as Retry-After asks")
            }
            try await Task.sleep(for: delay)
        }
    }

    /// `used/size` from `X-Shopify-Shop-Api-Call-Limit`.
    static func parseCallLimit(_ value: String) -> (used: Int, size: Int)? {
        let parts = value.split(separator: "/")
        guard parts.count == 2, let used = Int(parts[0].trimmingCharacters(in: .whitespaces)),
              let size = Int(parts[1].trimmingCharacters(in: .whitespaces)), size > 0 else { return nil }
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
