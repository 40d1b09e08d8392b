/// Names and places the generated customers and addresses are drawn from. Display names include
/// apostrophes and non-ASCII letters; e-mail addresses use the ASCII spelling.
enum ShopData {
    static let firstNames: [(display: String, ascii: String)] = [
        ("Ava", "ava"), ("Liam", "liam"), ("Zoë", "zoe"), ("José", "jose"), ("Łukasz", "lukasz"),
        ("Aiko", "aiko"), ("Mohammed", "mohammed"), ("Olivia", "olivia"), ("Søren", "soren"),
        ("Chloé", "chloe"), ("Ngozi", "ngozi"), ("Priya", "priya"), ("Jürgen", "jurgen"), ("Mei", "mei"),
        ("Noah", "noah"), ("Fatima", "fatima"),
    ]

    static let lastNames: [(display: String, ascii: String)] = [
        ("Smith", "smith"), ("O'Brien", "obrien"), ("Müller", "mueller"), ("García", "garcia"),
        ("Nowak", "nowak"), ("Tanaka", "tanaka"), ("Nguyen", "nguyen"), ("Dubois", "dubois"),
        ("Johansson", "johansson"), ("Okafor", "okafor"), ("Patel", "patel"), ("Rossi", "rossi"),
        ("D'Angelo", "dangelo"), ("Brown", "brown"),
    ]

    struct City {
        let city: String
        let province: String?
        let provinceCode: String?
        let country: String
        let countryCode: String
        let zip: String
        let phonePrefix: String
    }

    static let cities: [City] = [
        City(city: "New York", province: "New York", provinceCode: "NY", country: "United States", countryCode: "US", zip: "10001", phonePrefix: "+1 212-555-"),
        City(city: "Austin", province: "Texas", provinceCode: "TX", country: "United States", countryCode: "US", zip: "73301", phonePrefix: "+1 512-555-"),
        City(city: "Ottawa", province: "Ontario", provinceCode: "ON", country: "Canada", countryCode: "CA", zip: "K1A 0B1", phonePrefix: "+1 613-555-"),
        City(city: "München", province: "Bavaria", provinceCode: "BY", country: "Germany", countryCode: "DE", zip: "80331", phonePrefix: "+49 89 5550"),
        City(city: "São Paulo", province: "São Paulo", provinceCode: "SP", country: "Brazil", countryCode: "BR", zip: "01310-100", phonePrefix: "+55 11 5555-"),
        City(city: "東京", province: "Tokyo", provinceCode: "JP-13", country: "Japan", countryCode: "JP", zip: "100-0001", phonePrefix: "+81 3-5555-"),
        City(city: "Paris", province: nil, provinceCode: nil, country: "France", countryCode: "FR", zip: "75001", phonePrefix: "+33 1 55 55 "),
        City(city: "Kraków", province: "Lesser Poland", provinceCode: "PL-12", country: "Poland", countryCode: "PL", zip: "30-001", phonePrefix: "+48 12 555 "),
        City(city: "London", province: "England", provinceCode: "ENG", country: "United Kingdom", countryCode: "GB", zip: "SW1A 1AA", phonePrefix: "+44 20 5555 "),
        City(city: "Sydney", province: "New South Wales", provinceCode: "NSW", country: "Australia", countryCode: "AU", zip: "2000", phonePrefix: "+61 2 5555 "),
    ]

    static let streets = ["Main Street", "Rue de Rivoli", "Hauptstraße", "Avenida Paulista", "Elm St.", "Queen's Road"]

    /// A customer of the shop, derived from (seed, customer index) alone.
    struct Customer {
        let id: Int
        let addressID: Int
        let firstName: String
        let lastName: String
        let email: String
        let createdAt: Int
        let address: Address
    }

    struct Address {
        let address1: String
        let city: City
        let phone: String
    }

    static func customer(_ index: Int, seed: UInt64) -> Customer {
        var rng = SplitMix64(seed: SplitMix64.hash(seed, 4, index))
        let first = rng.pick(firstNames)
        let last = rng.pick(lastNames)
        return Customer(
            id: 6_100_000_000 + index * 1000 + Int(rng.next() % 1000),
            addressID: 8_800_000_000 + index * 1000 + Int(rng.next() % 1000),
            firstName: first.display,
            lastName: last.display,
            email: "\(first.ascii).\(last.ascii).\(index)@example.com",
            createdAt: Shop.startEpoch - rng.int(in: 0...31_536_000),
            address: address(&rng)
        )
    }

    static func address(_ rng: inout SplitMix64, city: City? = nil) -> Address {
        let number = rng.int(in: 1...999)
        let street = rng.pick(streets)
        let picked = city ?? rng.pick(cities)
        let line = String(rng.int(in: 0...9999))
        return Address(
            address1: "\(number) \(street)",
            city: picked,
            phone: picked.phonePrefix + String(repeating: "0", count: 4 - line.count) + line
        )
    }
}
