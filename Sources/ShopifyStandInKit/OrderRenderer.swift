/// The top-level fields of a rendered order, in the order Shopify renders them: `id` and
/// `admin_graphql_api_id` first, the remaining scalars alphabetically, then the nested objects.
public enum OrderField: String, CaseIterable, Sendable {
    case id, admin_graphql_api_id, app_id, browser_ip, buyer_accepts_marketing, cancel_reason, cancelled_at
    case closed_at, confirmation_number, confirmed, contact_email, created_at, currency
    case current_subtotal_price, current_total_price, current_total_tax, customer_locale, email
    case financial_status, fulfillment_status, name, note, number, order_number, phone
    case presentment_currency, processed_at, source_name, subtotal_price, tags, taxes_included, test, token
    case total_discounts, total_line_items_price, total_price, total_tax, total_weight, updated_at
    case billing_address, customer, line_items, shipping_address
}

/// The set of fields selected by a `fields` parameter; unknown names are ignored, as Shopify does.
public struct FieldSet: Sendable, Equatable {
    private var bits: UInt64

    public static let all = FieldSet(bits: (1 << UInt64(OrderField.allCases.count)) - 1)

    private init(bits: UInt64) {
        self.bits = bits
    }

    /// Parses a comma-separated list such as `"id,line_items"` (spaces around names are allowed).
    public init(parameter: String) {
        bits = 0
        for name in parameter.split(separator: ",") {
            let trimmed = name.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed()
            if let field = OrderField(rawValue: String(trimmed)) { bits |= FieldSet.bit(field) }
        }
    }

    public func contains(_ field: OrderField) -> Bool {
        bits & FieldSet.bit(field) != 0
    }

    /// Whether the field at `position` in `OrderField.allCases` is selected.
    func contains(position: Int) -> Bool {
        bits & (1 << UInt64(position)) != 0
    }

    private static func bit(_ field: OrderField) -> UInt64 {
        1 << UInt64(OrderField.allCases.firstIndex(of: field)!)
    }
}

extension Shop {
    /// Renders `{"orders":[...]}` for the orders at `indices`, with only the selected fields.
    func renderOrders(_ indices: [Int], fields: FieldSet) -> [UInt8] {
        var out = JSONOut(capacity: 64 + indices.count * (fields == .all ? 3000 : 600))
        out.raw("{\"orders\":[")
        for (position, index) in indices.enumerated() {
            if position > 0 { out.byte(",") }
            render(generateOrder(at: index), fields: fields, into: &out)
        }
        out.raw("]}")
        return out.bytes
    }

    /// `"name":` for each field, by position in `OrderField.allCases`.
    private static let fieldKeys: [[UInt8]] = OrderField.allCases.map { Array("\"\($0.rawValue)\":".utf8) }

    /// One `case` per field keeps the rendering order tied to `OrderField`'s declaration order.
    private func render(_ order: GeneratedOrder, fields: FieldSet, into out: inout JSONOut) {
        let customer = ShopData.customer(order.customer, seed: seed)
        var subtotal = 0
        var weight = 0
        for item in order.lineItems {
            let variant = catalogue.products[item.product].variants[item.variant]
            subtotal += variant.priceCents * item.quantity
            weight += variant.grams * item.quantity
        }
        let tax = (subtotal * 8 + 50) / 100
        let isCancelled = order.status == .cancelled
        var first = true
        out.byte("{")
        for (position, field) in OrderField.allCases.enumerated() where fields.contains(position: position) {
            if !first { out.byte(",") }
            first = false
            out.raw(Shop.fieldKeys[position])
            switch field {
            case .id: out.int(order.id)
            case .admin_graphql_api_id: out.raw("\"gid://shopify/Order/"); out.int(order.id); out.byte("\"")
            case .app_id: out.int(580_111)
            case .browser_ip: out.null()
            case .buyer_accepts_marketing: out.bool(order.token & 1 == 0)
            case .cancel_reason: out.optionalString(order.cancelReason)
            case .cancelled_at: date(order.cancelledAt, into: &out)
            case .closed_at: date(order.closedAt, into: &out)
            case .confirmation_number: renderConfirmationNumber(order.token, into: &out)
            case .confirmed: out.bool(true)
            case .contact_email, .email: out.string(customer.email)
            case .created_at, .processed_at: date(order.createdAt, into: &out)
            case .currency, .presentment_currency: out.raw("\"USD\"")
            case .current_subtotal_price: out.money(isCancelled ? 0 : subtotal)
            case .current_total_price: out.money(isCancelled ? 0 : subtotal + tax)
            case .current_total_tax: out.money(isCancelled ? 0 : tax)
            case .customer_locale: out.raw("\"en\"")
            case .financial_status: out.string(order.financialStatus)
            case .fulfillment_status: out.optionalString(order.fulfillmentStatus)
            case .name: out.raw("\"#"); out.int(1001 + order.index); out.byte("\"")
            case .note, .phone: out.null()
            case .number: out.int(1 + order.index)
            case .order_number: out.int(1001 + order.index)
            case .source_name: out.string(order.sourceName)
            case .subtotal_price, .total_line_items_price: out.money(subtotal)
            case .tags: out.string(order.tags)
            case .taxes_included, .test: out.bool(false)
            case .token: renderToken(order.token, into: &out)
            case .total_discounts: out.raw("\"0.00\"")
            case .total_price: out.money(subtotal + tax)
            case .total_tax: out.money(tax)
            case .total_weight: out.int(weight)
            case .updated_at: date(order.updatedAt, into: &out)
            case .billing_address: render(customer.address, of: customer, into: &out)
            case .customer: render(customer, into: &out)
            case .line_items: renderLineItems(order, into: &out)
            case .shipping_address:
                if let city = order.shippingCity {
                    var rng = SplitMix64(seed: SplitMix64.hash(seed, 5, order.index))
                    render(ShopData.address(&rng, city: ShopData.cities[city]), of: customer, into: &out)
                } else {
                    render(customer.address, of: customer, into: &out)
                }
            }
        }
        out.byte("}")
    }

    private func date(_ seconds: Int?, into out: inout JSONOut) {
        if let seconds { out.date(seconds, offsetMinutes: Shop.utcOffsetMinutes) } else { out.null() }
    }

    private func renderLineItems(_ order: GeneratedOrder, into out: inout JSONOut) {
        let fulfilled = order.fulfillmentStatus == "fulfilled"
        out.byte("[")
        for (position, item) in order.lineItems.enumerated() {
            let product = catalogue.products[item.product]
            let variant = product.variants[item.variant]
            if position > 0 { out.byte(",") }
            out.raw("{\"id\":"); out.int(item.id)
            out.raw(",\"admin_graphql_api_id\":\"gid://shopify/LineItem/"); out.int(item.id)
            out.raw("\",\"current_quantity\":"); out.int(order.status == .cancelled ? 0 : item.quantity)
            out.raw(",\"fulfillable_quantity\":"); out.int(fulfilled || order.status == .cancelled ? 0 : item.quantity)
            out.raw(",\"fulfillment_service\":\"manual\",\"fulfillment_status\":")
            if fulfilled { out.raw("\"fulfilled\"") } else { out.null() }
            out.raw(",\"gift_card\":false,\"grams\":"); out.int(variant.grams)
            out.raw(",\"name\":"); out.raw(variant.jsonName)
            out.raw(",\"price\":"); out.money(variant.priceCents)
            out.raw(",\"product_exists\":true,\"product_id\":"); out.int(product.id)
            out.raw(",\"properties\":[],\"quantity\":"); out.int(item.quantity)
            out.raw(",\"requires_shipping\":true,\"sku\":"); out.string(variant.sku)
            out.raw(",\"taxable\":true,\"title\":"); out.raw(product.jsonTitle)
            out.raw(",\"total_discount\":\"0.00\",\"variant_id\":"); out.int(variant.id)
            out.raw(",\"variant_inventory_management\":\"shopify\",\"variant_title\":"); out.optionalString(variant.title)
            out.raw(",\"vendor\":\"Stand-in Supply Co.\"}")
        }
        out.byte("]")
    }

    private func render(_ address: ShopData.Address, of customer: ShopData.Customer, into out: inout JSONOut) {
        out.raw("{\"first_name\":"); out.string(customer.firstName)
        out.raw(",\"address1\":"); out.string(address.address1)
        out.raw(",\"phone\":"); out.string(address.phone)
        out.raw(",\"city\":"); out.string(address.city.city)
        out.raw(",\"zip\":"); out.string(address.city.zip)
        out.raw(",\"province\":"); out.optionalString(address.city.province)
        out.raw(",\"country\":"); out.string(address.city.country)
        out.raw(",\"last_name\":"); out.string(customer.lastName)
        out.raw(",\"address2\":null,\"company\":null,\"latitude\":null,\"longitude\":null,\"name\":")
        out.string("\(customer.firstName) \(customer.lastName)")
        out.raw(",\"country_code\":"); out.string(address.city.countryCode)
        out.raw(",\"province_code\":"); out.optionalString(address.city.provinceCode)
        out.byte("}")
    }

    private func render(_ customer: ShopData.Customer, into out: inout JSONOut) {
        let address = customer.address
        out.raw("{\"id\":"); out.int(customer.id)
        out.raw(",\"email\":"); out.string(customer.email)
        out.raw(",\"created_at\":"); date(customer.createdAt, into: &out)
        out.raw(",\"updated_at\":"); date(customer.createdAt, into: &out)
        out.raw(",\"first_name\":"); out.string(customer.firstName)
        out.raw(",\"last_name\":"); out.string(customer.lastName)
        out.raw(",\"state\":\"enabled\",\"note\":null,\"verified_email\":true,\"multipass_identifier\":null")
        out.raw(",\"tax_exempt\":false,\"phone\":null,\"currency\":\"USD\",\"tags\":\"\"")
        out.raw(",\"admin_graphql_api_id\":\"gid://shopify/Customer/"); out.int(customer.id)
        out.raw("\",\"default_address\":{\"id\":"); out.int(customer.addressID)
        out.raw(",\"customer_id\":"); out.int(customer.id)
        out.raw(",\"first_name\":"); out.string(customer.firstName)
        out.raw(",\"last_name\":"); out.string(customer.lastName)
        out.raw(",\"company\":null,\"address1\":"); out.string(address.address1)
        out.raw(",\"address2\":null,\"city\":"); out.string(address.city.city)
        out.raw(",\"province\":"); out.optionalString(address.city.province)
        out.raw(",\"country\":"); out.string(address.city.country)
        out.raw(",\"zip\":"); out.string(address.city.zip)
        out.raw(",\"phone\":"); out.string(address.phone)
        out.raw(",\"name\":"); out.string("\(customer.firstName) \(customer.lastName)")
        out.raw(",\"province_code\":"); out.optionalString(address.city.provinceCode)
        out.raw(",\"country_code\":"); out.string(address.city.countryCode)
        out.raw(",\"country_name\":"); out.string(address.city.country)
        out.raw(",\"default\":true}}")
    }

    private static let alphanumerics = Array("ABCDEFGHJKLMNPQRSTUVWXYZ23456789".utf8)
    private static let hexDigits = Array("0123456789abcdef".utf8)

    private func renderConfirmationNumber(_ token: UInt64, into out: inout JSONOut) {
        out.byte("\"")
        var value = token
        for _ in 0..<9 {
            out.bytes.append(Shop.alphanumerics[Int(value % 32)])
            value /= 32
        }
        out.byte("\"")
    }

    /// A 32-hex-digit order token derived from the order's random token.
    private func renderToken(_ token: UInt64, into out: inout JSONOut) {
        out.byte("\"")
        for word in [token, SplitMix64.mix(token)] {
            for shift in stride(from: 60, through: 0, by: -4) {
                out.bytes.append(Shop.hexDigits[Int((word >> UInt64(shift)) & 0xF)])
            }
        }
        out.byte("\"")
    }
}
