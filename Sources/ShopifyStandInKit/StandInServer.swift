import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How the stand-in behaves: who may call it, its API versions, its rate limit and its faults.
public struct StandInConfiguration: Sendable, Equatable {
    /// The only value of `X-Shopify-Access-Token` that is accepted.
    public var accessToken: String
    /// The `{version}`s of `/admin/api/{version}/…` that exist; any other is a 404.
    public var apiVersions: [String]
    /// Leaky bucket capacity, per access token.
    public var bucketSize: Int
    /// Leaky bucket leak rate in requests per second; 0 disables rate limiting.
    public var leakRate: Double
    public var faults: FaultConfiguration

    public static let defaultAPIVersions = ["2025-10", "2026-01", "2026-04", "2026-07", "2026-10"]

    public init(
        accessToken: String = "standin-access-token",
        apiVersions: [String] = StandInConfiguration.defaultAPIVersions,
        bucketSize: Int = 40,
        leakRate: Double = 2,
        faults: FaultConfiguration = FaultConfiguration()
    ) {
        self.accessToken = accessToken
        self.apiVersions = apiVersions
        self.bucketSize = bucketSize
        self.leakRate = leakRate
        self.faults = faults
    }
}

/// Hummingbird responder for `ShopifyStandIn`.
public struct StandInResponder: HTTPResponder {
    public typealias Context = StandInRequestContext
    let standIn: ShopifyStandIn

    public func respond(to request: Request, context: StandInRequestContext) async throws -> Response {
        try await standIn.route(request, context)
    }
}

/// Request context that keeps the connection, so the connection-reset fault can drop it.
public struct StandInRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }
}

/// Shopify's Admin REST API orders endpoints over a deterministic `Shop`:
///
/// - `GET /admin/api/{version}/orders.json`: `status` (default `open`), `limit` (default 50, 1...250),
///   `since_id`, `fields`, and cursor pagination through `Link` headers with `page_info`. Orders are
///   returned in ascending id order whether or not `since_id` is given (real Shopify's default order
///   differs; ascending keeps `since_id` and `page_info` walks comparable).
/// - `GET /admin/api/{version}/orders/count.json`: `{"count": N}` for `status` and `since_id`.
/// - `GET /_standin/stats` and `POST /_standin/reset-stats`: counters, outside the API rules.
///
/// Every API response carries `X-Shopify-Shop-Api-Call-Limit`. Checks run in this order: leaky
/// bucket charge, API version (404), access token (401), bucket overflow (429), parameters (400),
/// then the injected faults.
public final class ShopifyStandIn: Sendable {
    public let shop: Shop
    public let configuration: StandInConfiguration
    private let bucket: LeakyBucket
    private let faults: FaultInjector
    private let recorder = StatsRecorder()

    public init(shop: Shop, configuration: StandInConfiguration = StandInConfiguration()) {
        self.shop = shop
        self.configuration = configuration
        self.bucket = LeakyBucket(size: configuration.bucketSize, leakRate: configuration.leakRate)
        self.faults = FaultInjector(configuration.faults)
    }

    public var stats: StandInStats { recorder.snapshot }

    public func resetStats() {
        recorder.reset()
    }

    /// An application serving the stand-in. `onServerRunning` receives the bound port (useful with port 0).
    public func application(
        host: String = "127.0.0.1",
        port: Int = 0,
        logger: Logger? = nil,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> Application<StandInResponder> {
        Application(
            responder: StandInResponder(standIn: self),
            configuration: .init(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            logger: logger
        )
    }

    /// Routes a request. A plain dispatch rather than a `Router`, because every path under
    /// `/admin/api/` must go through the API pipeline, including the unknown ones (404 after the
    /// version, token and bucket checks), which a router trie cannot express next to `{version}`.
    func route(_ request: Request, _ context: StandInRequestContext) async throws -> Response {
        let components = request.uri.path.split(separator: "/")
        switch (request.method, components.count, components.first) {
        case (_, 3..., "admin") where components[1] == "api":
            let endpoint: Endpoint
            switch (request.method, components.dropFirst(3)) {
            case (.get, ["orders.json"]): endpoint = .orders
            case (.get, ["orders", "count.json"]): endpoint = .count
            default: endpoint = .unknown
            }
            return await api(request, context, version: String(components[2]), endpoint: endpoint)
        case (.get, 2, "_standin") where components[1] == "stats":
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return Self.response(.ok, body: Array(try encoder.encode(stats)))
        case (.post, 2, "_standin") where components[1] == "reset-stats":
            resetStats()
            return Response(status: .noContent)
        default:
            return Self.response(.notFound, body: Self.notFoundBody)
        }
    }

    // MARK: The API pipeline

    private enum Endpoint {
        case orders, count, unknown
    }

    /// What a valid request asks for.
    private enum Work {
        case orders(OrdersPage)
        case count(StatusFilter, sinceID: Int?)

        /// The page size, which the big-page fault looks at.
        var limit: Int? {
            if case .orders(let page) = self { page.limit } else { nil }
        }
    }

    private func api(_ request: Request, _ context: StandInRequestContext, version: String, endpoint: Endpoint) async -> Response {
        recorder.update { $0.requests += 1 }
        let answer = await respond(request, context, version: version, endpoint: endpoint)
        let status = answer.response.status.code
        recorder.update { stats in
            if answer.connectionReset {
                stats.faults.connectionReset += 1
                return
            }
            stats.byStatus[String(status), default: 0] += 1
            if status == 429 { stats.throttled += 1 }
        }
        if !answer.connectionReset { recorder.recordServed(answer.servedOrderIDs) }
        return answer.response
    }

    private struct Answer {
        let response: Response
        /// Ids of the orders in the body of a 200.
        let servedOrderIDs: [Int]
        /// The connection was reset: `response` is never sent.
        let connectionReset: Bool

        init(_ response: Response, servedOrderIDs: [Int] = [], connectionReset: Bool = false) {
            self.response = response
            self.servedOrderIDs = servedOrderIDs
            self.connectionReset = connectionReset
        }
    }

    private func respond(
        _ request: Request,
        _ context: StandInRequestContext,
        version: String,
        endpoint: Endpoint
    ) async -> Answer {
        let token = request.headers[.shopifyAccessToken] ?? ""
        let charge = bucket.take(key: token)
        var headers: HTTPFields = [
            .contentType: "application/json; charset=utf-8",
            .shopifyCallLimit: "\(charge.used)/\(bucket.size)",
        ]
        guard configuration.apiVersions.contains(version) else {
            return Answer(Self.response(.notFound, headers: headers, body: Self.notFoundBody))
        }
        headers[.shopifyAPIVersion] = version
        guard token == configuration.accessToken else {
            return Answer(Self.response(.unauthorized, headers: headers, body: Self.unauthorizedBody))
        }
        if let retryAfter = charge.retryAfter {
            headers[.retryAfter] = Self.formatSeconds(retryAfter)
            let message = "Exceeded \(Self.formatRate(bucket.leakRate)) calls per second for api client. Reduce request rates to resume uninterrupted service."
            return Answer(Self.response(.tooManyRequests, headers: headers, body: Self.errors(message)))
        }

        let work: Work
        do throws(APIRejection) {
            switch endpoint {
            case .unknown:
                return Answer(Self.response(.notFound, headers: headers, body: Self.notFoundBody))
            case .orders:
                work = .orders(try OrdersPage(query: request.uri.queryParameters))
            case .count:
                let query = request.uri.queryParameters
                work = .count(try OrdersPage.parseStatus(query), sinceID: try OrdersPage.parseSinceID(query))
            }
        } catch {
            return Answer(Self.response(error.status, headers: headers, body: error.body))
        }

        let decision = faults.decide(limit: work.limit)
        if decision.resetConnection {
            await Self.reset(context.channel)
            return Answer(Response(status: .internalServerError), connectionReset: true)
        }
        if decision.stall {
            recorder.update { $0.faults.stall += 1 }
            try? await Task.sleep(for: .seconds(faults.configuration.stallSeconds))
        }
        if let failure = decision.failure {
            recorder.update { stats in
                if failure.bigPage { stats.faults.bigPage += 1 } else { stats.faults.serverError += 1 }
            }
            let status = HTTPResponse.Status(code: failure.status)
            if failure.html { headers[.contentType] = "text/html; charset=utf-8" }
            return Answer(Self.response(status, headers: headers, body: Self.serverErrorBody(status, html: failure.html)))
        }

        var body: [UInt8]
        var servedOrderIDs: [Int] = []
        switch work {
        case .orders(let page):
            let result = page.run(on: shop)
            var indices = result.indices
            if decision.overlap, let info = page.pageInfo, info.direction == .next, !indices.isEmpty {
                indices.insert(shop.firstIndex(afterID: info.cursor) - 1, at: 0)  // the order with the cursor's id
                recorder.update { $0.faults.overlap += 1 }
            }
            body = shop.renderOrders(indices, fields: page.fields)
            servedOrderIDs = indices.map(shop.orderID(at:))
            let links = result.links(request: request, version: version, page: page)
            if !links.isEmpty { headers[.link] = links }
        case .count(let status, let sinceID):
            body = Array("{\"count\":\(shop.count(status: status, sinceID: sinceID))}".utf8)
        }
        if decision.malformed {
            recorder.update { $0.faults.malformed += 1 }
            body.removeLast(max(1, body.count * 2 / 5))
        }
        return Answer(Self.response(.ok, headers: headers, body: body), servedOrderIDs: servedOrderIDs)
    }

    /// Drops the connection with a TCP reset (SO_LINGER 0), so the client sees ECONNRESET, not a response.
    private static func reset(_ channel: any Channel) async {
        if let socket = channel as? any SocketOptionProvider {
            try? await socket.setSoLinger(linger(l_onoff: 1, l_linger: 0)).get()
        }
        try? await channel.close()
    }

    // MARK: Bodies

    static let notFoundBody = errors("Not Found")
    static let unauthorizedBody = errors("[API] Invalid API key or access token (unrecognized login or wrong password)")

    /// `{"errors":"message"}`
    static func errors(_ message: String) -> [UInt8] {
        var out = JSONOut()
        out.raw("{\"errors\":")
        out.string(message)
        out.byte("}")
        return out.bytes
    }

    /// `{"errors":{"parameter":"message"}}`
    static func errors(_ parameter: String, _ message: String) -> [UInt8] {
        var out = JSONOut()
        out.raw("{\"errors\":{")
        out.string(parameter)
        out.byte(":")
        out.string(message)
        out.raw("}}")
        return out.bytes
    }

    private static func serverErrorBody(_ status: HTTPResponse.Status, html: Bool) -> [UInt8] {
        let title = "\(status.code) \(status.reasonPhrase)"
        if html {
            return Array("""
                <!DOCTYPE html><html><head><title>\(title)</title></head><body><h1>\(title)</h1>\
                <p>There was a problem loading this page. Please try again in a few moments.</p></body></html>
                """.utf8)
        }
        return errors(status.reasonPhrase)
    }

    static func response(_ status: HTTPResponse.Status, headers: HTTPFields = [:], body: [UInt8]) -> Response {
        var headers = headers
        if headers[.contentType] == nil { headers[.contentType] = "application/json; charset=utf-8" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// Seconds with up to three decimals and at least one, as in "2.0" or "0.25".
    static func formatSeconds(_ seconds: Double) -> String {
        let milliseconds = max(1, Int((seconds * 1000).rounded(.up)))
        var fraction = String(milliseconds % 1000)
        fraction = String(repeating: "0", count: 3 - fraction.count) + fraction
        while fraction.count > 1 && fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(milliseconds / 1000).\(fraction)"
    }

    /// "2" for 2.0, "0.5" for 0.5.
    static func formatRate(_ rate: Double) -> String {
        rate == rate.rounded() ? String(Int(rate)) : String(rate)
    }
}

extension HTTPField.Name {
    static let shopifyAccessToken = Self("X-Shopify-Access-Token")!
    static let shopifyCallLimit = Self("X-Shopify-Shop-Api-Call-Limit")!
    static let shopifyAPIVersion = Self("X-Shopify-API-Version")!
    static let link = Self("Link")!
}
