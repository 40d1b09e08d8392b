/// A strict RFC 8259 parser over UTF-8 bytes.
///
/// Own code rather than Foundation's `JSONSerialization` because rows need ordered keys, exact
/// 64-bit integers and speed: every extracted record passes through here.
public struct JSONParser {
    public struct Error: Swift.Error, Sendable, CustomStringConvertible {
        public let message: String
        /// Byte offset of the problem in the input.
        public let offset: Int
        public var description: String { "\(message) at byte \(offset)" }
    }

    /// Parses one complete JSON document; trailing content other than whitespace is an error.
    ///
    /// With a `selection`, objects keep only the selected keys. The values of the other keys are
    /// skipped, not built: they are checked for JSON structure (brackets, commas, terminated
    /// strings, number and literal syntax), but their strings are neither decoded nor checked for
    /// UTF-8 or escapes, and their keys are not checked for duplicates.
    public static func parse(_ bytes: some Collection<UInt8>, reading selection: FieldSelection = .everything) throws(Error) -> JSONValue {
        let array = Array(bytes)
        return try array.withUnsafeBufferPointer { buffer throws(Error) in
            try parse(buffer, reading: selection)
        }
    }

    public static func parse(_ text: String) throws(Error) -> JSONValue {
        try parse(Array(text.utf8))
    }

    public static func parse(_ buffer: UnsafeBufferPointer<UInt8>, reading selection: FieldSelection = .everything) throws(Error) -> JSONValue {
        var parser = JSONParser(buffer: buffer)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0, projection: Projection(selection))
        parser.skipWhitespace()
        guard parser.position == buffer.count else {
            throw parser.error("unexpected content after the JSON value")
        }
        return value
    }

    static let maximumDepth = 512

    let buffer: UnsafeBufferPointer<UInt8>
    var position = 0

    init(buffer: UnsafeBufferPointer<UInt8>) {
        self.buffer = buffer
    }

    func error(_ message: String) -> Error {
        Error(message: message, offset: position)
    }

    var current: UInt8? { position < buffer.count ? buffer[position] : nil }

    mutating func skipWhitespace() {
        while position < buffer.count {
            switch buffer[position] {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return
            }
        }
    }

    /// `projection` is `nil` when the whole value is read.
    mutating func parseValue(depth: Int, projection: Projection? = nil) throws(Error) -> JSONValue {
        guard depth < Self.maximumDepth else { throw error("nesting deeper than \(Self.maximumDepth)") }
        guard let byte = current else { throw error("unexpected end of input") }
        switch byte {
        case UInt8(ascii: "{"):
            if let projection { return try parseObject(depth: depth, projection: projection) }
            return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth, projection: projection)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw error("unexpected character '\(Character(Unicode.Scalar(byte)))'")
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(Error) {
        let count = literal.utf8CodeUnitCount
        guard position + count <= buffer.count,
              memcmp(buffer.baseAddress! + position, literal.utf8Start, count) == 0
        else { throw error("invalid literal") }
        position += count
    }

    private mutating func parseObject(depth: Int) throws(Error) -> JSONValue {
        position += 1
        var object = JSONObject(minimumCapacity: 8)
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            position += 1
            return .object(object)
        }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let key = try parseString()
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw error("expected ':' after key") }
            position += 1
            skipWhitespace()
            let value = try parseValue(depth: depth + 1)
            if object[key] != nil { throw error("duplicate key \"\(key)\"") }
            object.appendUnchecked(key, value)
            if try endOfObject() { return .object(object) }
        }
    }

    /// An object of which only the projection's keys are read; the other values are skipped.
    private mutating func parseObject(depth: Int, projection: Projection) throws(Error) -> JSONValue {
        position += 1
        var object = JSONObject(minimumCapacity: projection.keys.count)
        var seen: UInt64 = 0  // bit i: key i was read (duplicates are errors); keys past 64 are looked up
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            position += 1
            return .object(object)
        }
        while true {
            skipWhitespace()
            if let index = try keyIndex(in: projection) {
                let key = projection.keys[index]
                let value = try parseValue(depth: depth + 1, projection: projection.children[index])
                let duplicate = index < 64 ? seen & (1 << index) != 0 : object[key] != nil
                if duplicate { throw error("duplicate key \"\(key)\"") }
                if index < 64 { seen |= 1 << index }
                object.appendUnchecked(key, value)
            } else {
                try skipValue(depth: depth + 1)
            }
            if try endOfObject() { return .object(object) }
        }
    }

    /// At an object key: the index of the key in `projection` (`nil` for an unread key), with the
    /// position moved past the key and its colon. Keys without escapes are matched as raw bytes.
    mutating func keyIndex(in projection: Projection) throws(Error) -> Int? {
        let index = try scanKey(in: projection).index
        try skipColon()
        return index
    }

    /// `keyIndex(in:)` for objects that spell their keys in the same order, such as the elements of
    /// an array: the key is first compared byte for byte with `sightings[ordinal]`, the key at the
    /// same place in the previous such object, which saves scanning it and looking it up. A key
    /// without escapes is recorded there for the next object.
    mutating func keyIndex(in projection: Projection, ordinal: Int, sightings: inout [KeySighting]) throws(Error) -> Int? {
        let index: Int?
        if ordinal < sightings.count, let known = sightings[ordinal].index(ifAt: position, in: buffer) {
            position += sightings[ordinal].count + 2
            index = known
        } else {
            let key = try scanKey(in: projection)
            index = key.index
            if let bytes = key.plainBytes {
                let sighting = KeySighting(offset: bytes.lowerBound, count: bytes.count, index: index)
                if ordinal < sightings.count { sightings[ordinal] = sighting } else if ordinal == sightings.count { sightings.append(sighting) }
            }
        }
        try skipColon()
        return index
    }

    /// Moves past a key; its index in `projection`, and where its bytes are when it has no escapes.
    private mutating func scanKey(in projection: Projection) throws(Error) -> (index: Int?, plainBytes: Range<Int>?) {
        guard current == UInt8(ascii: "\"") else { throw error("expected a string key") }
        let keyStart = position
        if try skipString() {
            position = keyStart
            return (projection.keys.firstIndex(of: try parseString()), nil)
        }
        let bytes = keyStart + 1..<position - 1
        return (projection.index(ofKey: UnsafeBufferPointer(rebasing: buffer[bytes])), bytes)
    }

    private mutating func skipColon() throws(Error) {
        skipWhitespace()
        guard current == UInt8(ascii: ":") else { throw error("expected ':' after key") }
        position += 1
        skipWhitespace()
    }

    /// After an object's value: moves past `,` (false) or the closing `}` (true).
    mutating func endOfObject() throws(Error) -> Bool {
        skipWhitespace()
        switch current {
        case UInt8(ascii: ","): position += 1; return false
        case UInt8(ascii: "}"): position += 1; return true
        default: throw error("expected ',' or '}' in object")
        }
    }

    /// Moves past one value, checking its structure without building it.
    mutating func skipValue(depth: Int) throws(Error) {
        guard depth < Self.maximumDepth else { throw error("nesting deeper than \(Self.maximumDepth)") }
        guard let byte = current else { throw error("unexpected end of input") }
        switch byte {
        case UInt8(ascii: "\""):
            try skipString()
        case UInt8(ascii: "{"):
            position += 1
            skipWhitespace()
            if current == UInt8(ascii: "}") { position += 1; return }
            while true {
                skipWhitespace()
                guard current == UInt8(ascii: "\"") else { throw error("expected a string key") }
                try skipString()
                skipWhitespace()
                guard current == UInt8(ascii: ":") else { throw error("expected ':' after key") }
                position += 1
                skipWhitespace()
                try skipValue(depth: depth + 1)
                if try endOfObject() { return }
            }
        case UInt8(ascii: "["):
            position += 1
            skipWhitespace()
            if current == UInt8(ascii: "]") { position += 1; return }
            while true {
                skipWhitespace()
                try skipValue(depth: depth + 1)
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "]"): position += 1; return
                default: throw error("expected ',' or ']' in array")
                }
            }
        case UInt8(ascii: "t"): try expectLiteral("true")
        case UInt8(ascii: "f"): try expectLiteral("false")
        case UInt8(ascii: "n"): try expectLiteral("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): _ = try scanNumber()
        default: throw error("unexpected character '\(Character(Unicode.Scalar(byte)))'")
        }
    }

    /// Moves past a string (at its opening quote) without decoding it; whether it has escapes.
    @discardableResult
    mutating func skipString() throws(Error) -> Bool {
        position += 1
        var hasEscapes = false
        while true {
            skipPlainStringBytes()
            guard position < buffer.count else { throw error("unterminated string") }
            switch buffer[position] {
            case UInt8(ascii: "\""): position += 1; return hasEscapes
            case UInt8(ascii: "\\"): position += 2; hasEscapes = true
            case 0..<0x20: throw error("control character in string")
            default: position += 1
            }
        }
    }

    /// Moves over string bytes eight at a time while none of them is a quote, a backslash or a
    /// control character; stops at the first such byte, or within the last eight bytes of input.
    private mutating func skipPlainStringBytes() {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highBits: UInt64 = 0x8080_8080_8080_8080
        let base = UnsafeRawPointer(buffer.baseAddress!)
        while position + 8 <= buffer.count {
            let word = (base + position).loadUnaligned(as: UInt64.self)
            let quotes = word ^ (ones &* 0x22)
            let backslashes = word ^ (ones &* 0x5C)
            // A byte of `v` is zero, or below 0x20 in `word`, exactly when its high bit ends up set
            // here (borrows can only set bits above the first such byte, which is enough).
            let special = ((quotes &- ones) & ~quotes) | ((backslashes &- ones) & ~backslashes) | ((word &- ones &* 0x20) & ~word)
            let found = special & highBits
            if found != 0 {
                position += found.trailingZeroBitCount / 8  // little-endian: the lowest bit is the first byte
                return
            }
            position += 8
        }
    }

    private mutating func parseArray(depth: Int, projection: Projection?) throws(Error) -> JSONValue {
        position += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            position += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth + 1, projection: projection))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"): position += 1; return .array(elements)
            default: throw error("expected ',' or ']' in array")
            }
        }
    }

    mutating func parseString() throws(Error) -> String {
        position += 1
        let start = position
        // Fast path: no escapes.
        skipPlainStringBytes()
        while position < buffer.count {
            let byte = buffer[position]
            if byte == UInt8(ascii: "\"") {
                let string = try makeString(UnsafeBufferPointer(rebasing: buffer[start..<position]))
                position += 1
                return string
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw error("control character in string") }
            position += 1
        }
        var bytes = Array(buffer[start..<position])
        while position < buffer.count {
            let byte = buffer[position]
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                return try bytes.withUnsafeBufferPointer { chunk throws(Error) in try makeString(chunk) }
            case UInt8(ascii: "\\"):
                position += 1
                try appendEscape(to: &bytes)
            case 0..<0x20:
                throw error("control character in string")
            default:
                bytes.append(byte)
                position += 1
            }
        }
        throw error("unterminated string")
    }

    /// Strings must be valid UTF-8: a source that hands us anything else is reported, not repaired.
    /// ASCII, most keys and values, is valid as it is and skips the (generic, slower) validation.
    func makeString(_ bytes: UnsafeBufferPointer<UInt8>) throws(Error) -> String {
        if bytes.allSatisfy({ $0 < 0x80 }) { return String(decoding: bytes, as: UTF8.self) }
        guard let string = String(validating: bytes, as: UTF8.self) else {
            throw error("string is not valid UTF-8")
        }
        return string
    }

    private mutating func appendEscape(to bytes: inout [UInt8]) throws(Error) {
        guard let byte = current else { throw error("unterminated escape") }
        position += 1
        switch byte {
        case UInt8(ascii: "\""): bytes.append(0x22)
        case UInt8(ascii: "\\"): bytes.append(0x5C)
        case UInt8(ascii: "/"): bytes.append(0x2F)
        case UInt8(ascii: "b"): bytes.append(0x08)
        case UInt8(ascii: "f"): bytes.append(0x0C)
        case UInt8(ascii: "n"): bytes.append(0x0A)
        case UInt8(ascii: "r"): bytes.append(0x0D)
        case UInt8(ascii: "t"): bytes.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = UInt32(try parseHex4())
            if (0xD800..<0xDC00).contains(scalar) {
                guard current == UInt8(ascii: "\\"), position + 1 < buffer.count,
                      buffer[position + 1] == UInt8(ascii: "u")
                else { throw error("unpaired surrogate in \\u escape") }
                position += 2
                let low = UInt32(try parseHex4())
                guard (0xDC00..<0xE000).contains(low) else { throw error("invalid low surrogate") }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00..<0xE000).contains(scalar) {
                throw error("unpaired surrogate in \\u escape")
            }
            bytes.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
        default:
            throw error("invalid escape '\\\(Character(Unicode.Scalar(byte)))'")
        }
    }

    private mutating func parseHex4() throws(Error) -> UInt16 {
        guard position + 4 <= buffer.count else { throw error("truncated \\u escape") }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let byte = buffer[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error("invalid hex digit in \\u escape")
            }
            value = value << 4 | UInt16(digit)
            position += 1
        }
        return value
    }

    private mutating func parseNumber() throws(Error) -> JSONValue {
        let start = position
        let isInteger = try scanNumber()
        let digits = UnsafeBufferPointer(rebasing: buffer[start..<position])
        if isInteger, let integer = Self.int64(digits) { return .int(integer) }
        let text = String(decoding: digits, as: UTF8.self)
        if isInteger, let integer = Int64(text) { return .int(integer) }
        guard let double = Double(text) else { throw error("invalid number") }
        return .double(double)
    }

    /// An integer of at most 18 digits, optionally negative, without going through `String`;
    /// `nil` for longer ones, which take the general path.
    private static func int64(_ digits: UnsafeBufferPointer<UInt8>) -> Int64? {
        let negative = digits.first == UInt8(ascii: "-")
        let count = digits.count - (negative ? 1 : 0)
        guard count <= 18 else { return nil }
        var value: Int64 = 0
        for byte in digits.dropFirst(negative ? 1 : 0) { value = value &* 10 &+ Int64(byte &- UInt8(ascii: "0")) }
        return negative ? -value : value
    }

    /// Moves past a number, checking its syntax; whether it is an integer (no fraction, no exponent).
    private mutating func scanNumber() throws(Error) -> Bool {
        var isInteger = true
        if current == UInt8(ascii: "-") { position += 1 }
        guard let first = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
            throw error("invalid number")
        }
        if first == UInt8(ascii: "0") {
            position += 1
        } else {
            skipDigits()
        }
        if current == UInt8(ascii: ".") {
            isInteger = false
            position += 1
            guard skipDigits() > 0 else { throw error("invalid number: digits expected after '.'") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            isInteger = false
            position += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
            guard skipDigits() > 0 else { throw error("invalid number: digits expected in exponent") }
        }
        return isInteger
    }

    @discardableResult
    private mutating func skipDigits() -> Int {
        let start = position
        while let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { position += 1 }
        return position - start
    }
}

/// An object key without escapes as it was seen in the input, and its index in a projection.
struct KeySighting {
    /// Where the key's bytes start in the input (after the quote), and how many there are.
    let offset: Int
    let count: Int
    let index: Int?

    /// `.some(index)` when the input holds the same key, quotes included, at `keyStart` (its
    /// opening quote); `nil` when it holds another.
    func index(ifAt keyStart: Int, in buffer: UnsafeBufferPointer<UInt8>) -> Int?? {
        let closingQuote = keyStart + 1 + count
        guard closingQuote < buffer.count, buffer[closingQuote] == UInt8(ascii: "\""),
              Self.equal(UnsafeRawPointer(buffer.baseAddress! + keyStart + 1), UnsafeRawPointer(buffer.baseAddress! + offset), count: count) else { return nil }
        return .some(index)
    }

    /// `memcmp(a, b, count) == 0` inline, a word at a time: keys are short, and a call per key costs more.
    private static func equal(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, count: Int) -> Bool {
        guard count >= 8 else {
            for index in 0..<count where a.load(fromByteOffset: index, as: UInt8.self) != b.load(fromByteOffset: index, as: UInt8.self) { return false }
            return true
        }
        var index = 0
        while index + 8 < count {
            if a.loadUnaligned(fromByteOffset: index, as: UInt64.self) != b.loadUnaligned(fromByteOffset: index, as: UInt64.self) { return false }
            index += 8
        }
        // The last eight bytes, overlapping the words before them when `count` is not a multiple of eight.
        return a.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self) == b.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
    }
}

/// A `FieldSelection` prepared for matching the raw bytes of object keys.
final class Projection {
    let keys: [String]
    /// Per key: its length and its first (up to) eight bytes, compared before the whole key.
    private let lengths: [Int]
    private let prefixes: [UInt64]
    private let utf8: [[UInt8]]
    /// Per key: what is read below it; `nil` for everything.
    let children: [Projection?]

    /// `nil` for `.everything`.
    init?(_ selection: FieldSelection) {
        guard case .keys(let selected) = selection else { return nil }
        let sorted = selected.sorted { $0.key < $1.key }
        keys = sorted.map(\.key)
        utf8 = keys.map { Array($0.utf8) }
        lengths = utf8.map(\.count)
        prefixes = utf8.map { $0.withUnsafeBufferPointer(Self.prefix) }
        children = sorted.map { Projection($0.value) }
    }

    /// The index of the key whose UTF-8 is `raw`.
    func index(ofKey raw: UnsafeBufferPointer<UInt8>) -> Int? {
        guard lengths.contains(raw.count) else { return nil }
        let prefix = Self.prefix(raw)
        for index in 0..<keys.count where lengths[index] == raw.count && prefixes[index] == prefix {
            if raw.count <= 8 { return index }
            let same = utf8[index].withUnsafeBufferPointer { memcmp($0.baseAddress! + 8, raw.baseAddress! + 8, raw.count - 8) == 0 }
            if same { return index }
        }
        return nil
    }

    private static func prefix(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var prefix: UInt64 = 0
        for index in 0..<min(8, bytes.count) { prefix |= UInt64(bytes[index]) << (8 * index) }
        return prefix
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
