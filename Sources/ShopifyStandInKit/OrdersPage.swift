import HTTPTypes
import Hummingbird
import HummingbirdCore

/// A request that is answered with this status and body instead of its result.
struct APIRejection: Error {
    let status: HTTPResponse.Status
    let body: [UInt8]

    static func badRequest(_ parameter: String, _ message: String) -> APIRejection {
        APIRejection(status: .badRequest, body: ShopifyStandIn.errors(parameter, message))
    }
}

/// The query of an `orders.json` request, validated the way Shopify does.
struct OrdersPage {
    static let defaultLimit = 50
    static let maximumLimit = 250
    /// The only parameters that may accompany `page_info`.
    static let pageInfoCompanions: Set<Substring> = ["limit", "fields", "page_info"]

    let limit: Int
    let fields: FieldSet
    /// `fields` as the client sent it, repeated in the `Link` URLs.
    let fieldsParameter: String?
    let status: StatusFilter
    /// `since_id` of the request that started the walk: no page goes at or below it.
    let floor: Int?
    let pageInfo: PageInfo?

    init(query: FlatDictionary<Substring, Substring>) throws(APIRejection) {
        if let value = query["limit"] {
            guard let limit = Int(value), (1...Self.maximumLimit).contains(limit) else {
                throw .badRequest("limit", "must be an integer between 1 and \(Self.maximumLimit)")
            }
            self.limit = limit
        } else {
            self.limit = Self.defaultLimit
        }
        let fieldsParameter = query["fields"].flatMap { $0.isEmpty ? nil : String($0) }
        self.fieldsParameter = fieldsParameter
        self.fields = fieldsParameter.map(FieldSet.init(parameter:)) ?? .all

        if let encoded = query["page_info"] {
            let others = Set(query.map { $0.key }).subtracting(Self.pageInfoCompanions).sorted()
            guard others.isEmpty else {
                throw .badRequest(
                    "page_info",
                    "page_info cannot be passed with \(others.joined(separator: ", ")): only limit and fields may accompany it"
                )
            }
            guard let pageInfo = PageInfo(encoded: String(encoded)) else {
                throw .badRequest("page_info", "Invalid value.")
            }
            self.pageInfo = pageInfo
            self.status = pageInfo.status
            self.floor = pageInfo.floor
        } else {
            self.pageInfo = nil
            self.status = try Self.parseStatus(query)
            self.floor = try Self.parseSinceID(query)
        }
    }

    /// `status`, `open` when absent.
    static func parseStatus(_ query: FlatDictionary<Substring, Substring>) throws(APIRejection) -> StatusFilter {
        guard let value = query["status"] else { return .open }
        guard let status = StatusFilter(rawValue: String(value)) else {
            throw .badRequest("status", "must be one of open, closed, cancelled, any")
        }
        return status
    }

    static func parseSinceID(_ query: FlatDictionary<Substring, Substring>) throws(APIRejection) -> Int? {
        guard let value = query["since_id"] else { return nil }
        guard let sinceID = Int(value), sinceID >= 0 else {
            throw .badRequest("since_id", "must be a non-negative integer")
        }
        return sinceID
    }

    struct Result {
        /// Indices of the orders on the page, ascending.
        let indices: [Int]
        let nextCursor: Int?
        let previousCursor: Int?

        /// The `Link` header value (empty when there is neither a next nor a previous page).
        func links(request: Request, version: String, page: OrdersPage) -> String {
            let base = "http://\(request.head.authority ?? "localhost")/admin/api/\(version)/orders.json?limit=\(page.limit)"
                + (page.fieldsParameter.map { "&fields=\(OrdersPage.percentEncoded($0))" } ?? "")
            var links: [String] = []
            if let previousCursor {
                let info = PageInfo(direction: .previous, cursor: previousCursor, floor: page.floor, status: page.status)
                links.append("<\(base)&page_info=\(info.encoded)>; rel=\"previous\"")
            }
            if let nextCursor {
                let info = PageInfo(direction: .next, cursor: nextCursor, floor: page.floor, status: page.status)
                links.append("<\(base)&page_info=\(info.encoded)>; rel=\"next\"")
            }
            return links.joined(separator: ", ")
        }
    }

    func run(on shop: Shop) -> Result {
        // Orders at indices above `floorIndex` are above the since_id floor.
        let floorIndex = floor.map { shop.firstIndex(afterID: $0) - 1 } ?? -1
        let indices: [Int]
        switch pageInfo {
        case nil:
            indices = shop.indices(status: status, from: floorIndex + 1, limit: limit)
        case let info? where info.direction == .next:
            let start = max(floorIndex + 1, shop.firstIndex(afterID: info.cursor))
            indices = shop.indices(status: status, from: start, limit: limit)
        case let info?:
            let end = shop.firstIndex(afterID: info.cursor - 1)
            indices = shop.indices(status: status, before: end, above: floorIndex, limit: limit)
        }
        guard let first = indices.first, let last = indices.last else {
            return Result(indices: [], nextCursor: nil, previousCursor: nil)
        }
        let hasNext = shop.hasMatch(status: status, between: last, and: shop.orderCount)
        let hasPrevious = pageInfo != nil && shop.hasMatch(status: status, between: floorIndex, and: first)
        return Result(
            indices: indices,
            nextCursor: hasNext ? shop.orderID(at: last) : nil,
            previousCursor: hasPrevious ? shop.orderID(at: first) : nil
        )
    }

    /// Percent-encodes everything but unreserved characters; commas too, as Rails does, so a
    /// client that splits the `Link` header on commas still finds whole URLs.
    static func percentEncoded(_ value: String) -> String {
        var out = ""
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"),
                 UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
