/// An order's state, as Shopify's `status` filter sees it.
public enum OrderStatus: String, Sendable, CaseIterable {
    case open, closed, cancelled
}

/// The values of the `status` query parameter.
public enum StatusFilter: String, Sendable, CaseIterable {
    case open, closed, cancelled, any

    /// The one status this filter selects, `nil` for `any`.
    public var only: OrderStatus? {
        switch self {
        case .any: nil
        case .open: .open
        case .closed: .closed
        case .cancelled: .cancelled
        }
    }

    public func includes(_ status: OrderStatus) -> Bool {
        only.map { $0 == status } ?? true
    }
}

public struct LineItemSummary: Sendable, Equatable {
    public let id: Int
    public let productID: Int
    public let variantID: Int
    /// The product title, byte for byte as rendered in `line_items[].title`.
    public let title: String
    public let quantity: Int
}

public struct OrderSummary: Sendable, Equatable {
    public let id: Int
    public let name: String
    public let status: OrderStatus
    public let lineItems: [LineItemSummary]
}

/// One row of the top-products report (see DESIGN.md, "The top-products metric").
public struct TopProduct: Sendable, Equatable, CustomStringConvertible {
    public let title: String
    public let rank: Int
    public let cntBought: Int

    /// Compares titles byte for byte: Swift's `==` would equate the NFC and NFD spellings of a title.
    public static func == (lhs: TopProduct, rhs: TopProduct) -> Bool {
        lhs.rank == rhs.rank && lhs.cntBought == rhs.cntBought && lhs.title.utf8.elementsEqual(rhs.title.utf8)
    }

    public var description: String { "#\(rank) \(title.debugDescription) \(cntBought)" }
}

/// A deterministic shop: `Shop(orderCount: n, seed: s)` has the same orders, byte for byte, every time.
///
/// Orders are not stored. Each one is generated on demand from (seed, index), so a shop of 300,000
/// orders costs one status byte per order. Order ids grow strictly with the index:
/// `id(i) = base + 1000 i + jitter(i)` with `jitter < 1000`, which gives random gaps between 1 and
/// 1999 and lets `since_id` be turned into an index in O(1).
public final class Shop: Sendable {
    public let orderCount: Int
    public let seed: UInt64
    public let catalogue: Catalogue
    /// Each order's status: one byte per order.
    private let statuses: [OrderStatus]
    private let idBase: Int
    let customerCount: Int

    static let idStride = 1000
    /// 2023-01-01T00:00:00Z; orders are about four minutes apart from there on.
    static let startEpoch = 1_672_531_200
    /// The shop's time zone, as every timestamp is rendered in it (UTC-5, no daylight saving).
    static let utcOffsetMinutes = -300

    public init(orderCount: Int, seed: UInt64, catalogue: Catalogue = .standard) {
        precondition(orderCount >= 0, "orderCount must not be negative")
        self.orderCount = orderCount
        self.seed = seed
        self.catalogue = catalogue
        self.idBase = 5_000_000_000 + Int(SplitMix64.hash(seed, 0, 0) % 100_000_000)
        self.customerCount = max(1, orderCount * 2 / 5)
        self.statuses = (0..<orderCount).map { index in
            // About 70% open, 20% closed, 10% cancelled.
            let roll = SplitMix64.hash(seed, 2, index) % 100
            return roll < 70 ? .open : roll < 90 ? .closed : .cancelled
        }
    }

    // MARK: Ids and statuses

    public func orderID(at index: Int) -> Int {
        idBase + index * Shop.idStride + Int(SplitMix64.hash(seed, 1, index) % UInt64(Shop.idStride))
    }

    public func status(at index: Int) -> OrderStatus {
        statuses[index]
    }

    /// The index of the first order whose id is greater than `id` (`orderCount` if there is none).
    public func firstIndex(afterID id: Int) -> Int {
        if id < idBase { return 0 }
        let candidate = (id - idBase) / Shop.idStride
        if candidate >= orderCount { return orderCount }
        // orderID(at: candidate + 1) > id always holds, by construction.
        return orderID(at: candidate) > id ? candidate : candidate + 1
    }

    /// The number of orders matching `status` with an id greater than `sinceID`.
    public func count(status: StatusFilter, sinceID: Int? = nil) -> Int {
        let start = sinceID.map(firstIndex(afterID:)) ?? 0
        guard let wanted = status.only else { return orderCount - start }
        var count = 0
        for index in start..<orderCount where statuses[index] == wanted { count += 1 }
        return count
    }

    /// Indices of up to `limit` orders matching `status`, ascending, starting at index `start`.
    func indices(status: StatusFilter, from start: Int, limit: Int) -> [Int] {
        var result: [Int] = []
        result.reserveCapacity(limit)
        var index = start
        while index < orderCount && result.count < limit {
            if status.includes(self.status(at: index)) { result.append(index) }
            index += 1
        }
        return result
    }

    /// Indices of up to `limit` orders matching `status` just below index `end`, above index `floor`
    /// (exclusive bounds), ascending: the page before a page that starts at `end`.
    func indices(status: StatusFilter, before end: Int, above floor: Int, limit: Int) -> [Int] {
        var result: [Int] = []
        var index = end - 1
        while index > floor && result.count < limit {
            if status.includes(self.status(at: index)) { result.append(index) }
            index -= 1
        }
        return result.reversed()
    }

    /// Whether any order matching `status` lies strictly between the indices `lower` and `upper`.
    func hasMatch(status: StatusFilter, between lower: Int, and upper: Int) -> Bool {
        var index = lower + 1
        while index < upper {
            if status.includes(self.status(at: index)) { return true }
            index += 1
        }
        return false
    }

    // MARK: Summaries, for tests and other independent checks

    /// Orders matching `status` with an id greater than `sinceID`, in ascending id order, generated lazily.
    public func orders(status: StatusFilter = .any, sinceID: Int? = nil) -> some Sequence<OrderSummary> {
        let start = sinceID.map(firstIndex(afterID:)) ?? 0
        return (start..<orderCount).lazy
            .filter { status.includes(self.status(at: $0)) }
            .map { self.summary(at: $0) }
    }

    public func summary(at index: Int) -> OrderSummary {
        let order = generateOrder(at: index)
        return OrderSummary(
            id: order.id,
            name: "#\(1001 + index)",
            status: order.status,
            lineItems: order.lineItems.map { item in
                let product = catalogue.products[item.product]
                return LineItemSummary(
                    id: item.id,
                    productID: product.id,
                    variantID: product.variants[item.variant].id,
                    title: product.title,
                    quantity: item.quantity
                )
            }
        )
    }

    /// The expected top-products report: total quantity per title over all orders (`status=any`),
    /// ranked by quantity descending, then title ascending in byte order. Titles are never merged
    /// unless their bytes are equal.
    public func topProducts(count: Int) -> [TopProduct] {
        var quantities = [Int](repeating: 0, count: catalogue.products.count)
        for index in 0..<orderCount {
            for item in generateOrder(at: index).lineItems { quantities[item.product] += item.quantity }
        }
        var byTitle: [[UInt8]: (title: String, quantity: Int)] = [:]
        for (product, quantity) in zip(catalogue.products, quantities) where quantity > 0 {
            byTitle[Array(product.title.utf8), default: (product.title, 0)].quantity += quantity
        }
        let ranked = byTitle.sorted { lhs, rhs in
            lhs.value.quantity != rhs.value.quantity
                ? lhs.value.quantity > rhs.value.quantity
                : lhs.key.lexicographicallyPrecedes(rhs.key)
        }
        return ranked.prefix(count).enumerated().map { position, entry in
            TopProduct(title: entry.value.title, rank: position + 1, cntBought: entry.value.quantity)
        }
    }

    // MARK: Generation

    struct GeneratedLineItem {
        let id: Int
        let product: Int
        let variant: Int
        let quantity: Int
    }

    struct GeneratedOrder {
        let index: Int
        let id: Int
        let status: OrderStatus
        let createdAt: Int
        let updatedAt: Int
        let closedAt: Int?
        let cancelledAt: Int?
        let cancelReason: String?
        let financialStatus: String
        let fulfillmentStatus: String?
        let sourceName: String
        let tags: String
        let token: UInt64
        let customer: Int
        /// Index into `ShopData.cities` when shipping goes elsewhere than the customer's address.
        let shippingCity: Int?
        let lineItems: [GeneratedLineItem]
    }

    /// Every draw happens in a fixed order, so the same (seed, index) always gives the same order.
    func generateOrder(at index: Int) -> GeneratedOrder {
        var rng = SplitMix64(seed: SplitMix64.hash(seed, 3, index))
        let status = self.status(at: index)
        let createdAt = Shop.startEpoch + index * 240 + Int(rng.next() % 240)

        var closedAt: Int?
        var cancelledAt: Int?
        var cancelReason: String?
        let updatedAt: Int
        let financialStatus: String
        let fulfillmentStatus: String?
        switch status {
        case .open:
            updatedAt = createdAt + rng.int(in: 0...259_200)
            financialStatus = rng.pick(["paid", "paid", "paid", "pending", "authorized", "partially_refunded"])
            fulfillmentStatus = rng.pick([nil, nil, "partial"])
        case .closed:
            closedAt = createdAt + rng.int(in: 3600...864_000)
            updatedAt = closedAt!
            financialStatus = rng.pick(["paid", "paid", "refunded"])
            fulfillmentStatus = "fulfilled"
        case .cancelled:
            cancelledAt = createdAt + rng.int(in: 600...172_800)
            closedAt = cancelledAt
            updatedAt = cancelledAt!
            cancelReason = rng.pick(["customer", "fraud", "inventory", "declined", "other"])
            financialStatus = rng.pick(["refunded", "voided"])
            fulfillmentStatus = nil
        }

        let itemCountRoll = rng.next() % 100
        let itemCount = itemCountRoll < 35 ? 1 : itemCountRoll < 65 ? 2 : itemCountRoll < 83 ? 3 : itemCountRoll < 93 ? 4 : 5
        var lineItems: [GeneratedLineItem] = []
        lineItems.reserveCapacity(itemCount)
        func addItem(product: Int, quantity: Int, rng: inout SplitMix64) {
            let variants = catalogue.products[product].variants.count
            // Up to 5 line items per order, ids increasing within the order and across the shop.
            let slot = index * 5 + lineItems.count
            lineItems.append(GeneratedLineItem(
                id: 13_000_000_000 + slot * 200 + Int(rng.next() % 200),
                product: product,
                variant: Int(rng.next() % UInt64(variants)),
                quantity: quantity
            ))
        }
        while lineItems.count < itemCount {
            let product = catalogue.pickProduct(&rng)
            let quantityRoll = rng.next() % 100
            let quantity = quantityRoll < 45 ? 1 : quantityRoll < 70 ? 2 : quantityRoll < 84 ? 3
                : quantityRoll < 92 ? 4 : quantityRoll < 98 ? 5 : rng.int(in: 6...48)
            if let twin = catalogue.products[product].twin {
                guard lineItems.count + 2 <= itemCount else { continue }
                addItem(product: product, quantity: quantity, rng: &rng)
                addItem(product: twin, quantity: quantity, rng: &rng)
            } else {
                addItem(product: product, quantity: quantity, rng: &rng)
            }
        }

        let customer = Int(rng.next() % UInt64(customerCount))
        let shippingRoll = rng.next() % 10
        return GeneratedOrder(
            index: index,
            id: orderID(at: index),
            status: status,
            createdAt: createdAt,
            updatedAt: updatedAt,
            closedAt: closedAt,
            cancelledAt: cancelledAt,
            cancelReason: cancelReason,
            financialStatus: financialStatus,
            fulfillmentStatus: fulfillmentStatus,
            sourceName: rng.pick(["web", "web", "web", "pos", "shopify_draft_order"]),
            tags: rng.pick(["", "", "", "", "VIP", "wholesale, repeat", "gift"]),
            token: rng.next(),
            customer: customer,
            shippingCity: shippingRoll == 0 ? Int(rng.next() % UInt64(ShopData.cities.count)) : nil,
            lineItems: lineItems
        )
    }
}
