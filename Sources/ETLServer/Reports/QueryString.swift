/// The parameters of a request's query string (`a=1&b=2&b=3`), percent-decoded.
///
/// Strict where leniency would hide mistakes: a malformed `%` escape or bytes that are not UTF-8
/// are an error, never passed on. `+` is a space, as HTML forms send it.
enum QueryString {
    struct Problem: Error {
        /// The parameter whose name or value is malformed, when its name could be read.
        let parameter: String?
    }

    /// Every value of every parameter, in order, by name.
    static func parameters(_ query: Substring?) -> Result<[String: [String]], Problem> {
        var parameters: [String: [String]] = [:]
        for pair in (query ?? "").split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = percentDecoded(parts[0], plusIsSpace: true) else { return .failure(Problem(parameter: nil)) }
            guard let value = parts.count == 2 ? percentDecoded(parts[1], plusIsSpace: true) : "" else { return .failure(Problem(parameter: name)) }
            parameters[name, default: []].append(value)
        }
        return .success(parameters)
    }

    /// `%XX` escapes decoded (and `+` as a space when asked); nil when an escape is malformed or
    /// the bytes are not UTF-8.
    static func percentDecoded(_ text: Substring, plusIsSpace: Bool = false) -> String? {
        guard text.utf8.contains(where: { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == UInt8(ascii: "+")) }) else { return String(text) }
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if plusIsSpace, byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
                continue
            }
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
