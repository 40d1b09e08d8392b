/// Appends JSON text to a byte array. Rendering pages straight to bytes (no intermediate
/// dictionaries, no JSONSerialization) keeps the stand-in fast enough for benchmarks.
struct JSONOut {
    var bytes: [UInt8] = []

    init(capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
    }

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func raw(_ other: [UInt8]) {
        bytes.append(contentsOf: other)
    }

    mutating func byte(_ ascii: Unicode.Scalar) {
        bytes.append(UInt8(ascii: ascii))
    }

    mutating func int(_ value: Int) {
        if value < 0 {
            byte("-")
            int(0 - value)
            return
        }
        if value >= 10 { int(value / 10) }
        bytes.append(UInt8(truncatingIfNeeded: 48 + value % 10))
    }

    /// Appends `value` zero-padded to `width` digits (value must be non-negative).
    mutating func padded(_ value: Int, width: Int) {
        var divisor = 1
        for _ in 1..<width { divisor *= 10 }
        while divisor > value && divisor > 1 {
            byte("0")
            divisor /= 10
        }
        int(value)
    }

    mutating func null() {
        raw("null")
    }

    mutating func bool(_ value: Bool) {
        if value { raw("true") } else { raw("false") }
    }

    mutating func string(_ value: String) {
        JSONOut.appendString(value, to: &bytes)
    }

    mutating func optionalString(_ value: String?) {
        if let value { string(value) } else { null() }
    }

    /// A price as Shopify renders money: a string with two decimals, e.g. "12.50".
    mutating func money(_ cents: Int) {
        byte("\"")
        int(cents / 100)
        byte(".")
        padded(cents % 100, width: 2)
        byte("\"")
    }

    /// `secondsSinceEpoch` rendered as Shopify does, in the shop's time zone: "2024-03-05T10:03:07-05:00".
    mutating func date(_ secondsSinceEpoch: Int, offsetMinutes: Int) {
        let local = secondsSinceEpoch + offsetMinutes * 60
        let days = local >= 0 ? local / 86_400 : (local - 86_399) / 86_400
        let secondOfDay = local - days * 86_400
        let (year, month, day) = JSONOut.civil(fromDays: days)
        byte("\"")
        padded(year, width: 4)
        byte("-")
        padded(month, width: 2)
        byte("-")
        padded(day, width: 2)
        byte("T")
        padded(secondOfDay / 3600, width: 2)
        byte(":")
        padded(secondOfDay / 60 % 60, width: 2)
        byte(":")
        padded(secondOfDay % 60, width: 2)
        if offsetMinutes == 0 {
            byte("Z")
        } else {
            byte(offsetMinutes < 0 ? "-" : "+")
            padded(abs(offsetMinutes) / 60, width: 2)
            byte(":")
            padded(abs(offsetMinutes) % 60, width: 2)
        }
        byte("\"")
    }

    /// Howard Hinnant's `civil_from_days`: proleptic Gregorian date of a day count since 1970-01-01.
    static func civil(fromDays days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthPrime = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthPrime + 2) / 5 + 1
        let month = monthPrime < 10 ? monthPrime + 3 : monthPrime - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func encodedString(_ value: String) -> [UInt8] {
        var bytes: [UInt8] = []
        appendString(value, to: &bytes)
        return bytes
    }

    private static let hex = Array("0123456789abcdef".utf8)

    /// Appends `value` as a JSON string. Like Shopify (Rails' ActiveSupport JSON), it escapes control
    /// characters, `"`, `\`, the HTML-sensitive `<`, `>` and `&`, and U+2028 / U+2029; everything
    /// else is raw UTF-8.
    static func appendString(_ value: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in appendEscaped(utf8, to: &bytes) }
        bytes.append(UInt8(ascii: "\""))
    }

    private static func appendEscaped(_ utf8: UnsafeBufferPointer<UInt8>, to bytes: inout [UInt8]) {
        var index = 0
        while index < utf8.count {
            let byte = utf8[index]
            index += 1
            switch byte {
            case 0x22: bytes.append(contentsOf: [0x5C, 0x22])
            case 0x5C: bytes.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0x08: bytes.append(contentsOf: [0x5C, UInt8(ascii: "b")])
            case 0x0C: bytes.append(contentsOf: [0x5C, UInt8(ascii: "f")])
            case 0..<0x20, 0x3C, 0x3E, 0x26:
                appendUnicodeEscape(Int(byte), to: &bytes)
            case 0xE2 where index + 1 < utf8.count && utf8[index] == 0x80 && (utf8[index + 1] == 0xA8 || utf8[index + 1] == 0xA9):
                // U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR
                appendUnicodeEscape(0x2000 + Int(utf8[index + 1]) - 0x80, to: &bytes)
                index += 2
            default:
                bytes.append(byte)
            }
        }
    }

    private static func appendUnicodeEscape(_ code: Int, to bytes: inout [UInt8]) {
        bytes.append(contentsOf: [0x5C, UInt8(ascii: "u")])
        for shift in [12, 8, 4, 0] { bytes.append(hex[(code >> shift) & 0xF]) }
    }
}
