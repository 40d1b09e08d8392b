/// The shop's product catalogue. It is the same for every seed: the seed varies the orders, while the
/// titles, prices and popularity stay fixed so that a top-N ranking is stable and meaningful.
///
/// The titles are chosen to break careless pipelines: quotes, backslashes, tabs, newlines, NUL,
/// U+2028, emoji (with ZWJ sequences and flags), right-to-left and CJK scripts, HTML and SQL
/// metacharacters, a 300-character title, leading and trailing spaces, and two pairs of titles that
/// differ only in bytes: "Tee" / "Tee " and "Café Crème Mug" in NFC / NFD (equal as Swift `String`s,
/// different byte for byte). Each pair is bought together in equal quantities, so their totals tie.
public struct Catalogue: Sendable {
    public struct Variant: Sendable {
        public let id: Int
        /// `nil` for a product's only variant, as Shopify renders `variant_title: null` for it.
        public let title: String?
        public let sku: String
        public let priceCents: Int
        public let grams: Int
        /// The line item `name` ("Title - Variant", or the title alone) as an escaped JSON string.
        let jsonName: [UInt8]
    }

    public struct Product: Sendable {
        public let id: Int
        public let title: String
        public let variants: [Variant]
        /// Relative popularity; 0 for the second product of a twin pair, which is only ever bought
        /// together with its twin.
        public let weight: Double
        /// Index of the product bought together with this one, in the same quantity.
        public let twin: Int?
        /// `title` already escaped as a JSON string (with quotes), rendered on every page.
        let jsonTitle: [UInt8]
    }

    public let products: [Product]
    /// Cumulative popularity over `products`, scaled to 2^32, for weighted picks by binary search.
    private let cumulative: [UInt64]

    public static let standard = Catalogue()

    /// The hand-written titles, most popular first; generic titles fill the rest of the catalogue.
    static let featuredTitles: [String] = [
        "Tee",
        "The \"Original\" Hoodie",
        "Classic Mug",
        "🔥 Fire Mug 🔥",
        "Back\\Slash Poster",
        "Line One\nLine Two Scarf",
        "茶杯 Tea Cup",
        "Tab\tSeparated Tote",
        "  Padded Socks  ",
        "Caf\u{E9} Cr\u{E8}me Mug",
        "Grandma's 'Best' Apron",
        "<b>Bold</b> & Co. Notebook",
        longTitle,
        "Чайная чашка",
        "كوب شاي",
        "👩‍💻 Developer Hoodie",
        "C:\\Temp\\Mug",
        "Robert'); DROP TABLE orders;-- Mug",
        "Carriage\r\nReturn Cap",
        "Nul\u{0}Byte Keychain",
        "Κούπα Greek Mug",
        "ティーシャツ",
        "चाय का कप",
        "Flag 🇺🇦🇯🇵 Pin",
        "Half \\\" Escaped Sticker",
        "Weird\u{2028}Separator Lamp",
        "Trailing Tab Cap\t",
        "Zero\u{200B}Width Bracelet",
    ]

    /// Second products of the twin pairs: (twin's title, this title).
    static let twinTitles: [(String, String)] = [
        ("Tee", "Tee "),
        ("Caf\u{E9} Cr\u{E8}me Mug", "Cafe\u{301} Cre\u{300}me Mug"),
    ]

    /// Exactly 300 characters.
    static let longTitle: String = {
        let phrase = "Extraordinarily Long Limited Edition Hand-Made Organic Cotton Product Title "
        return String(String(repeating: phrase, count: 4).prefix(300))
    }()

    static let adjectives = ["Canvas", "Wool", "Linen", "Leather", "Bamboo", "Ceramic", "Denim", "Cotton", "Steel", "Oak"]
    static let nouns = ["Backpack", "Beanie", "Wallet", "Water Bottle", "Notebook", "Candle", "Jacket", "Gloves", "Tray"]
    static let sizeOptions: [[String?]] = [[nil], ["S", "M", "L", "XL"], ["Black", "White", "Navy"], ["250g", "1kg"]]

    init(productCount: Int = 120) {
        var titles = Catalogue.featuredTitles
        generic: for adjective in Catalogue.adjectives {
            for noun in Catalogue.nouns {
                if titles.count >= productCount - Catalogue.twinTitles.count { break generic }
                titles.append("\(adjective) \(noun)")
            }
        }
        var rng = SplitMix64(seed: 0x5EED_CA7A_1060_0001)
        var products: [Product] = []
        var popularityRank = 0
        func makeProduct(_ title: String, weight: Double, twin: Int?) -> Product {
            let index = products.count
            let options = Catalogue.sizeOptions[Int(rng.next() % 4)]
            let basePrice = 500 + Int(rng.next() % 9500)
            let variants = options.enumerated().map { position, option in
                Variant(
                    id: 42_000_000_000_000 + index * 1_000 + position * 10 + Int(rng.next() % 10),
                    title: option,
                    sku: "SI-\(1000 + index)-\(position)",
                    priceCents: basePrice + position * 100,
                    grams: 100 + Int(rng.next() % 900),
                    jsonName: JSONOut.encodedString(option.map { "\(title) - \($0)" } ?? title)
                )
            }
            return Product(
                id: 7_400_000_000_000 + index * 1_000 + Int(rng.next() % 1000),
                title: title,
                variants: variants,
                weight: weight,
                twin: twin,
                jsonTitle: JSONOut.encodedString(title)
            )
        }
        for title in titles {
            // Zipf popularity: the head of the list sells far more than the tail.
            let weight = 1 / Double(popularityRank + 1)
            popularityRank += 1
            if let pair = Catalogue.twinTitles.first(where: { $0.0.utf8.elementsEqual(title.utf8) }) {
                let index = products.count
                products.append(makeProduct(title, weight: weight, twin: index + 1))
                products.append(makeProduct(pair.1, weight: 0, twin: index))
            } else {
                products.append(makeProduct(title, weight: weight, twin: nil))
            }
        }
        let total = products.reduce(0) { $0 + $1.weight }
        var running = 0.0
        self.cumulative = products.map { product in
            running += product.weight
            return UInt64(running / total * 4_294_967_296)
        }
        self.products = products
    }

    /// A product index, weighted by popularity; never the second product of a twin pair.
    func pickProduct(_ rng: inout SplitMix64) -> Int {
        let target = rng.next() >> 32
        var low = 0
        var high = cumulative.count - 1
        while low < high {
            let middle = (low + high) / 2
            if cumulative[middle] > target { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
