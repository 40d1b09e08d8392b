/// A complete HTTP response. Any status, 4xx and 5xx included, is a response, not an error.
public struct HTTPResponse: Sendable {
    public var status: Int
    /// In arrival order, names lowercased; a header received several times appears several times.
    public var headers: [(name: String, value: String)]
    /// The decoded body: a gzip or deflate `Content-Encoding` has already been undone.
    public var body: [UInt8]

    /// Header names are lowercased here, so values built by hand (test doubles) behave like received ones.
    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.init(status: status, lowercasedHeaders: headers.map { (name: $0.name.lowercased(), value: $0.value) }, body: body)
    }

    /// For headers as received, whose names `TransferState` has lowercased already.
    init(status: Int, lowercasedHeaders headers: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// Every value of the header `name` (case-insensitive), in arrival order.
    public func headerValues(_ name: String) -> [String] {
        let name = name.lowercased()
        return headers.filter { $0.name == name }.map(\.value)
    }

    /// The header `name` (case-insensitive); several values are joined with ", " as RFC 9110 §5.3
    /// allows. Nil when absent. Use `headerValues(_:)` for `Set-Cookie`, which cannot be joined.
    public func header(_ name: String) -> String? {
        let values = headerValues(name)
        return values.isEmpty ? nil : values.joined(separator: ", ")
    }

    /// The target of the `Link` header's link with relation `rel` (RFC 8288), such as a paginated
    /// API's `next` page; nil when there is none.
    public func link(rel: String) -> String? {
        guard let header = header("link") else { return nil }
        for entry in header.split(separator: ",") {
            let pieces = entry.split(separator: ";").map(trimmingSpaces)
            guard pieces.count >= 2, pieces[0].hasPrefix("<"), pieces[0].hasSuffix(">"),
                  pieces.dropFirst().contains(where: { $0 == "rel=\"\(rel)\"" || $0 == "rel=\(rel)" }) else { continue }
            return String(pieces[0].dropFirst().dropLast())
        }
        return nil
    }

    /// `text` without leading and trailing spaces and tabs. Not Foundation's `trimmingCharacters(in:)`,
    /// which goes through `NSString`: this runs for every page of a paginated download.
    private func trimmingSpaces(_ text: Substring) -> Substring {
        let isSpace = { (byte: UInt8) in byte == 0x20 || byte == 0x09 }
        guard let first = text.utf8.firstIndex(where: { !isSpace($0) }), let last = text.utf8.lastIndex(where: { !isSpace($0) })
        else { return text[text.endIndex...] }
        return Substring(text.utf8[first...last])
    }
}
