/// The opaque `page_info` cursor: base64url of "v1.<direction>.<cursor id>.<since_id floor>.<status>".
///
/// A next page holds the orders after `cursor`, a previous page the ones before it; neither goes at or
/// below the `since_id` of the request that started the walk. The status filter travels in the
/// cursor because a `page_info` request may not repeat it.
struct PageInfo: Equatable {
    enum Direction: String {
        case next = "n"
        case previous = "p"
    }

    let direction: Direction
    let cursor: Int
    let floor: Int?
    let status: StatusFilter

    var encoded: String {
        let plain = "v1.\(direction.rawValue).\(cursor).\(floor.map(String.init) ?? "").\(status.rawValue)"
        return Base64URL.encode(Array(plain.utf8))
    }

    init(direction: Direction, cursor: Int, floor: Int?, status: StatusFilter) {
        self.direction = direction
        self.cursor = cursor
        self.floor = floor
        self.status = status
    }

    /// `nil` for anything this stand-in did not issue.
    init?(encoded: String) {
        guard let bytes = Base64URL.decode(encoded) else { return nil }
        let parts = String(decoding: bytes, as: UTF8.self).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "v1",
              let direction = Direction(rawValue: String(parts[1])),
              let cursor = Int(parts[2]),
              parts[3].isEmpty || Int(parts[3]) != nil,
              let status = StatusFilter(rawValue: String(parts[4]))
        else { return nil }
        self.init(direction: direction, cursor: cursor, floor: parts[3].isEmpty ? nil : Int(parts[3]), status: status)
    }
}

/// Unpadded base64url (RFC 4648 §5): safe in a query string without percent-encoding.
enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            var value = 0
            for byte in chunk { value = value << 8 | Int(byte) }
            value <<= 8 * (3 - chunk.count)
            for position in 0...chunk.count { out.append(alphabet[(value >> (18 - 6 * position)) & 0x3F]) }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: String) -> [UInt8]? {
        var values: [Int] = []
        for byte in text.utf8 {
            guard let value = alphabet.firstIndex(of: byte) else { return nil }
            values.append(value)
        }
        if values.count % 4 == 1 { return nil }
        var out: [UInt8] = []
        var index = 0
        while index < values.count {
            let chunk = values[index..<min(index + 4, values.count)]
            var value = 0
            for sextet in chunk { value = value << 6 | sextet }
            value <<= 6 * (4 - chunk.count)
            for position in 0..<(chunk.count - 1) { out.append(UInt8((value >> (16 - 8 * position)) & 0xFF)) }
            index += 4
        }
        // Reject non-canonical encodings, so each cursor has exactly one spelling.
        return encode(out) == text ? out : nil
    }
}
