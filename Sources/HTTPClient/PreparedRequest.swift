internal import CCurl

/// An `HTTPRequest` checked before any handle is taken: the URL parsed by libcurl's own parser,
/// the method and headers validated and rendered as curl header lines.
struct PreparedRequest: Sendable {
    let method: String
    let url: String
    /// `scheme://host:port/path`, for error messages.
    let redactedURL: String
    /// Query, user and password of the URL, and an AWS secret key: scrubbed from libcurl's error
    /// text, just in case.
    let secrets: [String]
    /// `Name: value` lines for CURLOPT_HTTPHEADER.
    let headerLines: [String]
    let body: [UInt8]?
    let timeout: Duration?
    let onSent: (@Sendable () -> Void)?
    let awsSigning: AWSSigning?

    init(_ request: HTTPRequest) throws(HTTPClientError) {
        guard let handle = curl_url() else {
            throw HTTPClientError(kind: .other, message: "\(request.method) request: out of memory")
        }
        defer { curl_url_cleanup(handle) }
        let parsed = curl_url_set(handle, CURLUPART_URL, request.url, 0)
        let scheme = Self.part(handle, CURLUPART_SCHEME)?.lowercased()
        guard parsed == CURLUE_OK, scheme == "http" || scheme == "https", let host = Self.part(handle, CURLUPART_HOST)
        else {
            throw HTTPClientError(
                kind: .invalidURL,
                message: "\(request.method) request: not an absolute http:// or https:// URL"
            )
        }
        let port = Self.part(handle, CURLUPART_PORT, flags: UInt32(CURLU_DEFAULT_PORT)) ?? "?"
        let path = Self.part(handle, CURLUPART_PATH) ?? "/"
        redactedURL = "\(scheme!)://\(host):\(port)\(path)"
        secrets = ([CURLUPART_QUERY, CURLUPART_USER, CURLUPART_PASSWORD].compactMap { Self.part(handle, $0) } + [request.awsSigning?.secretKey].compactMap { $0 })
            .filter { !$0.isEmpty }

        guard !request.method.isEmpty, request.method.utf8.allSatisfy(Self.isTokenByte) else {
            throw HTTPClientError(kind: .invalidRequest, message: "\(redactedURL): invalid HTTP method")
        }
        var lines: [String] = []
        for (name, value) in request.headers {
            guard !name.isEmpty, name.utf8.allSatisfy(Self.isTokenByte),
                !value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 })
            else {
                throw HTTPClientError(
                    kind: .invalidRequest,
                    message: "\(request.method) \(redactedURL): invalid header name or value"
                )
            }
            // libcurl reads "Name:" as "remove this header"; "Name;" sends it with an empty value.
            lines.append(value.isEmpty ? "\(name);" : "\(name): \(value)")
        }
        // An empty Expect disables libcurl's "Expect: 100-continue" on larger bodies, which costs
        // a round trip (or a one-second wait with servers that ignore it). Not on a signed request:
        // libcurl 7.88 lists the removed header among the signed ones, and no server can match
        // that signature (S3 answers 100-continue, so there the round trip is all it costs).
        if request.awsSigning == nil, !request.headers.contains(where: { $0.name.lowercased() == "expect" }) {
            lines.append("Expect:")
        }

        if request.compressBody, let body = request.body {
            lines.append("Content-Encoding: gzip")
            self.body = Gzip.compress(body)
        } else {
            body = request.body
        }
        method = request.method
        url = request.url
        headerLines = lines
        timeout = request.timeout
        onSent = request.onSent
        awsSigning = request.awsSigning
    }

    /// `message` with the URL's secrets masked.
    func redact(_ message: String) -> String {
        secrets.reduce(message) { $0.replacing($1, with: "***") }
    }

    private static func part(_ handle: OpaquePointer, _ what: CURLUPart, flags: UInt32 = 0) -> String? {
        var value: UnsafeMutablePointer<CChar>?
        guard curl_url_get(handle, what, &value, flags) == CURLUE_OK, let value else { return nil }
        defer { curl_free(value) }
        return String(cString: value)
    }

    /// RFC 9110 `tchar`.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}
