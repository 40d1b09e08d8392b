import ETLCore
import Foundation
import HTTPClient
import Synchronization

/// `shopify.orders` source: every order of a shop through the Admin REST API, oldest id first.
///
/// A read starts with `status=any` (Shopify's default, `open`, would lose closed and cancelled
/// orders), `since_id` (ascending ids: a stable cursor that survives crashes) and only the
/// configured `fields`, and goes on through the `Link` headers' `page_info` URLs, which carry that
/// query along. A batch is `pages_per_batch` pages (fewer, bigger inserts and checkpoints); the
/// cursor is the last order id of the batch, and a resumed read starts from it with `since_id`.
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
            let pagesPerBatch = config.int("pages_per_batch", default: 40, in: 1...100)
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

    public func openReader(after cursor: JSONValue?, fields: FieldSelection, context: StageContext) async throws -> any SourceReader {
        try await openReader(after: cursor, decoding: .fields(fields.union(.keys(["id": .everything]))), context: context)
    }

    /// Orders are decoded straight into the flattening's rows.
    public func openReader(after cursor: JSONValue?, flattening: Flattening, context: StageContext) async throws -> (any SourceReader)? {
        try await openReader(after: cursor, decoding: .flattening(flattening), context: context)
    }

    private func openReader(after cursor: JSONValue?, decoding: OrdersDecoding, context: StageContext) async throws -> any SourceReader {
        var sinceID: Int64 = 0
        if let cursor {
            guard case .int(let saved)? = cursor[path: FieldPath("since_id")!] else {
                throw ETLError(.stageFailed, "shopify.orders: the saved cursor \(JSONWriter.string(cursor)) is not a shopify.orders cursor")
            }
            sinceID = saved
        }
        let api = ShopifyAPI(source: self, logger: context.logger)
        let total = try await api.orderCount()
        return ShopifyOrdersReader(api: api, sinceID: sinceID, pagesPerBatch: pagesPerBatch, decoding: decoding, expectedTotal: total)
    }
}

/// Hands out `pagesPerBatch` pages per batch while the pages after them download, back to back, up
/// to a batch and a quarter ahead: downloading overlaps decoding, transforming and loading.
///
/// Each page is requested as soon as the previous one has arrived, at the `Link` URL that page's
/// headers give for the next one; its orders are decoded on a task of their own once that request
/// is out. A page without a next link (Shopify's last) is decoded at once and followed by
/// `since_id` of its last order, so the reader stops only at an empty page. The cursor of a batch
/// is its last order id: a resumed run starts from `since_id`, and pages fetched ahead and never
/// handed out (the process stopped or died) are simply fetched again.
final class ShopifyOrdersReader: SourceReader {
    private let api: ShopifyAPI
    private let firstSinceID: Int64
    private let pagesPerBatch: Int
    /// What is made of each page's orders; their ids are always read, for cursors.
    private let decoding: OrdersDecoding
    /// The pages on their way, in order: each one's orders, decoded on a task of their own once it
    /// has downloaded and the next page has been requested (`nil` for the empty page that ends the
    /// orders, and after it).
    private var ahead: [Task<DecodedPage?, any Error>] = []
    /// The download of the last page requested; `nil` before the first. The next page's download
    /// starts from it, so its body lives until then or until its decoding is done, whichever is later.
    private var tail: Task<OrdersPage?, any Error>?
    /// Fired once the page after `tail` has been requested (or will not be): `tail`'s decoding
    /// waits for it.
    private var tailNextRequested: OneShot?
    private var finished = false
    /// The last order id handed out (at first the cursor's `since_id`).
    private var lastID: Int64
    /// Set when the reader goes away: downloads already chained then request nothing more.
    private let abandoned = StopSignal()
    let expectedTotal: Int?

    init(api: ShopifyAPI, sinceID: Int64, pagesPerBatch: Int, decoding: OrdersDecoding, expectedTotal: Int?) {
        self.api = api
        firstSinceID = sinceID
        lastID = sinceID
        self.pagesPerBatch = pagesPerBatch
        self.decoding = decoding
        self.expectedTotal = expectedTotal
    }

    deinit {
        abandoned.request()
        for page in ahead { page.cancel() }
    }

    func next() async throws -> SourceBatch? {
        var pages: [Rows] = []
        var records = 0
        for _ in 0..<pagesPerBatch where !finished {
            requestPagesAhead()
            guard let page = try await ahead.removeFirst().value, !page.ids.isEmpty else {
                finished = true
                break
            }
            // Ids must ascend across pages: followed links that went anywhere else would load
            // orders twice or skip some.
            for id in page.ids {
                guard id > lastID else {
                    throw ETLError(.stageFailed, "shopify.orders: order \(id) came after order \(lastID), but pages must be in ascending id order; nothing of this batch was loaded, resume to continue from the last checkpoint")
                }
                lastID = id
            }
            records += page.ids.count
            pages.append(page.rows)
        }
        guard !pages.isEmpty else {
            for page in ahead { page.cancel() }
            ahead = []
            return nil
        }
        return SourceBatch(rows: Rows(concatenating: pages), records: records, cursor: .object(JSONObject([("since_id", .int(lastID))])))
    }

    /// Keeps a batch and a quarter of pages requested (at least one page more than a batch). The
    /// chain of downloads is the run's critical path: it runs on the thread of the transfers
    /// themselves (`HTTPClient.transferExecutor`), and decoding runs at high priority to keep pace
    /// with it and free each body. A page's decoding starts once the next page has been requested,
    /// not as soon as the page has arrived: woken in between, it could take the core that the
    /// transfer thread needs to send that request (BENCHMARKS.md, item 21).
    private func requestPagesAhead() {
        while ahead.count < pagesPerBatch + max(1, pagesPerBatch / 4) {
            let previous = tail, previousNextRequested = tailNextRequested
            let nextRequested = OneShot()
            let announceRequested: (@Sendable () -> Void)? = previousNextRequested.map { signal in { @Sendable in signal.fire() } }
            let download = Task(executorPreference: api.transferExecutor, priority: .high) { [api, firstSinceID, abandoned] () -> OrdersPage? in
                // However this ends, the previous page's decoding waits no longer.
                defer { previousNextRequested?.fire() }
                var request = PageRequest.after(sinceID: firstSinceID)
                if let previous {
                    guard let page = try await previous.value, let next = try await page.nextRequest(refetchingWith: api) else { return nil }
                    request = next
                }
                if abandoned.isRequested { throw CancellationError() }
                return try await api.ordersPage(request, onSent: announceRequested)
            }
            let orders = Task(priority: .high) { [api, decoding] () -> DecodedPage? in
                guard let page = try await download.value else { return nil }
                await nextRequested.wait()
                return try await page.decode(decoding, refetchingWith: api)
            }
            ahead.append(orders)
            tail = download
            tailNextRequested = nextRequested
        }
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

    /// Whether `url` is on this shop's address (scheme, host and port), so that the access token
    /// may go with a request to it.
    func owns(_ url: String) -> Bool {
        url.hasPrefix(base + "/")
    }

    var description: String { base }
}

/// A signal fired once; `wait()` returns once it has fired, or when the waiting task is cancelled.
final class OneShot: Sendable {
    private let state = Mutex<(fired: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func fire() {
        let waiters = state.withLock { state in
            guard !state.fired else { return [CheckedContinuation<Void, Never>]() }
            state.fired = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
                let fired = state.withLock { state in
                    if !state.fired { state.waiters.append(waiter) }
                    return state.fired
                }
                if fired { waiter.resume() }
            }
        } onCancel: {
            fire()
        }
    }
}
