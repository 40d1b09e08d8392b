import ETLCore
import Foundation

/// Partner product files turned into product JSON: `<nsx:items>` holding `<nsx:item id="…">`
/// elements, each with a category, a description, images (`type`, `url`) and prices (currency,
/// value), parsed as an `XMLTree` (no namespace processing: `nsx:item` is `item`).
///
/// The rules (README, "Partner product files"):
/// - An item needs a non-empty `id`, `category`, `description` and at least one price, each with a
///   currency and a decimal value (kept as the file writes it, as a string). Images are optional;
///   an image's `type` must be an integer from 1 to `maxImageType`, and its `url` non-empty. The
///   first image of a type wins; other elements are ignored.
/// - An item that breaks a rule is left out of the output and reported (`Rejection`); the others
///   are converted, in file order.
/// - A file that is not XML, whose root is not `items`, or whose items are all invalid, fails as a
///   whole (`FileError`). A file with no items gives an empty array.
public enum PartnerXML {
    /// Image types above this are refused: `product_images` lists every type up to the highest,
    /// so one typo (`type="100000"`) would otherwise make a hundred thousand nulls.
    public static let maxImageType = 100

    public struct Conversion: Sendable {
        /// The valid items' JSON, in file order.
        public var products: [JSONValue]
        public var rejected: [Rejection]
    }

    /// An item left out, with why. `index` counts the file's items from 1.
    public struct Rejection: Sendable, Equatable, CustomStringConvertible {
        public var index: Int
        public var id: String?
        public var reason: String

        public var description: String { "item \(index)\(id.map { " (id \($0))" } ?? ""): \(reason)" }
    }

    /// Why a file gives no output at all.
    public struct FileError: Error, Sendable, Equatable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    public static func convert(_ data: Data) throws(FileError) -> Conversion {
        let root: XMLTree.Element
        do { root = try XMLTree.parse(data) } catch { throw FileError(message: error.message) }
        guard root.name == "items" else {
            throw FileError(message: "the root element is <\(root.qualifiedName)>, not <nsx:items>: not a partner product file")
        }
        var conversion = Conversion(products: [], rejected: [])
        for (offset, item) in root.children(named: "item").enumerated() {
            switch product(item) {
            case .success(let product): conversion.products.append(product)
            case .failure(let rejection):
                conversion.rejected.append(Rejection(index: offset + 1, id: item.attributes["id"].flatMap(XMLTree.trimmed), reason: rejection.reason))
            }
        }
        if conversion.products.isEmpty, let first = conversion.rejected.first {
            let more = conversion.rejected.count > 1 ? " (and \(conversion.rejected.count - 1) more)" : ""
            throw FileError(message: "no valid item: \(first)\(more)")
        }
        return conversion
    }

    private struct Invalid: Error {
        let reason: String
    }

    private static func product(_ item: XMLTree.Element) -> Result<JSONValue, Invalid> {
        guard let id = item.attributes["id"].flatMap(XMLTree.trimmed) else { return .failure(Invalid(reason: "no id attribute")) }
        guard let category = item.child("category")?.trimmedText else { return .failure(Invalid(reason: "no category")) }
        guard let description = item.child("description")?.trimmedText else { return .failure(Invalid(reason: "no description")) }

        var urls: [Int: String] = [:]
        for image in item.child("images")?.children(named: "image") ?? [] {
            let typeText = image.attributes["type"] ?? ""
            guard let type = Int(typeText.trimmingCharacters(in: .whitespaces)), (1...maxImageType).contains(type) else {
                return .failure(Invalid(reason: "image type \"\(typeText)\" is not an integer from 1 to \(maxImageType)"))
            }
            guard let url = image.attributes["url"].flatMap(XMLTree.trimmed) else { return .failure(Invalid(reason: "image \(type) has no url")) }
            if urls[type] == nil { urls[type] = url }
        }
        let highest = urls.keys.max() ?? 0
        let images = JSONObject((0..<highest).map { (key: "image_\($0 + 1)", value: urls[$0 + 1].map(JSONValue.string) ?? .null) })

        var prices: [JSONValue] = []
        for price in item.child("prices")?.children(named: "price") ?? [] {
            guard let currency = price.child("currency")?.trimmedText else { return .failure(Invalid(reason: "a price has no currency")) }
            guard let value = price.child("value")?.trimmedText else { return .failure(Invalid(reason: "the \(currency) price has no value")) }
            guard isDecimal(value) else { return .failure(Invalid(reason: "the \(currency) price \"\(value)\" is not a decimal number")) }
            prices.append(.object(JSONObject([("currency", .string(currency)), ("value", .string(value))])))
        }
        guard !prices.isEmpty else { return .failure(Invalid(reason: "no price")) }

        return .success(.object(JSONObject([
            ("product_id", .string(id)), ("product_category", .string(category)), ("product_description", .string(description)),
            ("product_images", .object(images)), ("prices", .array(prices)),
        ])))
    }

    /// Digits, with one decimal point between digits at most: `49.95`, `10`.
    static func isDecimal(_ text: String) -> Bool {
        let parts = text.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        return (1...2).contains(parts.count) && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy { (0x30...0x39).contains($0) } }
    }
}
