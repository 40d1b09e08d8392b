import ETLCore
import Foundation
import HTTPClient

/// A failure reported by ClickHouse itself (`Code: N`), or the server being out of reach.
public struct ClickHouseError: Error, Sendable, CustomStringConvertible {
    /// ClickHouse's error code, when the server answered.
    public let code: Int?
    public let message: String
    /// The server could not be reached or the connection broke: worth retrying.
    public let isTransient: Bool

    public var description: String { message }
}

/// ClickHouse's HTTP interface: the statement in the body (or in `query=` when the body is data),
/// credentials in `X-ClickHouse-User`/`-Key` headers, never in the URL.
public struct ClickHouseClient: Sendable {
    public struct Configuration: Sendable {
        /// `http://host:8123`.
        public var url: String
        public var user: String
        public var password: String
        public var database: String
        /// Send INSERT data gzip-compressed: less on the wire, more CPU on both ends. Worth it over
        /// slow links, not on one host or a LAN.
        public var compressInserts: Bool

        public init(url: String, user: String, password: String, database: String, compressInserts: Bool = false) {
            self.url = url
            self.user = user
            self.password = password
            self.database = database
            self.compressInserts = compressInserts
        }
    }

    public let configuration: Configuration
    private let http: HTTPClient

    public init(configuration: Configuration, http: HTTPClient = HTTPClient()) {
        self.configuration = configuration
        self.http = http
    }

    /// Runs a statement and returns the body of the answer. Reads wait for the end of the query
    /// (`wait_end_of_query=1`), so that an error in the middle is an HTTP error and not a truncated
    /// result; a body whose last line is still a `Code: ` error is caught as well. `timeout`
    /// overrides the HTTP client's for this request.
    @discardableResult
    public func execute(_ sql: String, settings: [String: String] = [:], timeout: Duration? = nil) async throws(ClickHouseError) -> [UInt8] {
        try await send(sql: sql, data: nil, settings: ["wait_end_of_query": "1"].merging(settings) { $1 }, timeout: timeout)
    }

    /// `INSERT INTO … FORMAT …` with `data` as the body (gzip-compressed with `compressInserts`);
    /// one block, so atomic.
    public func insert(_ statement: String, data: [UInt8], settings: [String: String] = [:]) async throws(ClickHouseError) {
        try await send(sql: statement, data: data, settings: settings, timeout: nil)
    }

    /// Rows of a `FORMAT TabSeparated` answer, fields unescaped.
    public func rows(_ sql: String) async throws(ClickHouseError) -> [[String]] {
        let body = try await execute(sql + " FORMAT TabSeparated")
        return String(decoding: body, as: UTF8.self).split(separator: "\n").map { line in
            line.split(separator: "\t", omittingEmptySubsequences: false).map { ClickHouseSQL.unescapeTabSeparated(String($0)) }
        }
    }

    /// The server's version, e.g. `18.16.1` or `25.8.3.1`.
    public func version() async throws(ClickHouseError) -> ServerVersion {
        let text = try await rows("SELECT version()").first?.first ?? ""
        guard let version = ServerVersion(text) else {
            throw ClickHouseError(code: nil, message: "ClickHouse at \(configuration.url) reported an unreadable version \"\(text)\"", isTransient: false)
        }
        return version
    }

    @discardableResult
    private func send(sql: String, data: [UInt8]?, settings: [String: String], timeout: Duration?) async throws(ClickHouseError) -> [UInt8] {
        var components = URLComponents(string: configuration.url)
        var query = [URLQueryItem(name: "database", value: configuration.database)]
        query += settings.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) }
        if data != nil { query.append(URLQueryItem(name: "query", value: sql)) }
        components?.queryItems = query
        // `+` is a space in form encoding, which ClickHouse applies to query parameters.
        let encodedQuery = components?.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        components?.percentEncodedQuery = encodedQuery
        guard let url = components?.url?.absoluteString else {
            throw ClickHouseError(code: nil, message: "\(configuration.url) is not a ClickHouse URL (like http://localhost:8123); check CLICKHOUSE_URL", isTransient: false)
        }
        var headers = [(name: "X-ClickHouse-User", value: configuration.user)]
        if !configuration.password.isEmpty { headers.append((name: "X-ClickHouse-Key", value: configuration.password)) }
        let request = HTTPRequest(method: "POST", url: url, headers: headers, body: data ?? Array(sql.utf8), compressBody: data != nil && configuration.compressInserts, timeout: timeout)

        let response: HTTPResponse
        do {
            response = try await http.execute(request)
        } catch {
            throw ClickHouseError(code: nil, message: "ClickHouse at \(configuration.url) is unreachable (\(error.message)); check CLICKHOUSE_URL and that the server is up", isTransient: error.isRetryable)
        }
        guard response.status == 200 else {
            throw Self.serverError(status: response.status, body: response.body, url: configuration.url)
        }
        if let trailing = Self.trailingException(in: response.body) {
            throw ClickHouseError(code: trailing.code, message: "ClickHouse failed mid-answer: \(trailing.message)", isTransient: false)
        }
        return response.body
    }

    /// Turns an error answer into a message: `Code: 60, e.displayText() = DB::Exception: …` (18.16)
    /// and `Code: 60. DB::Exception: … (UNKNOWN_TABLE) (version …)` (modern) both give code 60.
    static func serverError(status: Int, body: [UInt8], url: String) -> ClickHouseError {
        let text = String(decoding: body.prefix(2000), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let parsed = parseException(text)
        var message = parsed?.message ?? (text.isEmpty ? "HTTP \(status)" : text)
        if parsed?.code == 516 || parsed?.code == 193 || status == 401 || status == 403 {
            message += "; check CLICKHOUSE_USER and CLICKHOUSE_PASSWORD"
        }
        // 503 and a few server-side codes clear up on their own (server starting, too many queries).
        let transient = status == 503 || [202, 209, 210, 241, 242].contains(parsed?.code ?? -1)
        return ClickHouseError(code: parsed?.code, message: "ClickHouse at \(url) answered HTTP \(status): \(message)", isTransient: transient)
    }

    static func parseException(_ text: String) -> (code: Int, message: String)? {
        guard text.hasPrefix("Code: ") else { return nil }
        let digits = text.dropFirst("Code: ".count).prefix { $0.isNumber }
        guard let code = Int(digits) else { return nil }
        var message = String(text.dropFirst("Code: ".count + digits.count).drop { $0 == "," || $0 == "." || $0 == " " })
        message = message.replacingOccurrences(of: "e.displayText() = ", with: "")
        if let what = message.range(of: ", e.what() = ") { message = String(message[..<what.lowerBound]) }
        return (code, "Code \(code): \(message)")
    }

    /// A `Code: ` line at the very end of a 200 answer: the query failed after the answer started.
    static func trailingException(in body: [UInt8]) -> (code: Int, message: String)? {
        let tail = String(decoding: body.suffix(4096), as: UTF8.self)
        guard let last = tail.split(separator: "\n").last, last.hasPrefix("Code: "), last.contains("Exception") else { return nil }
        return parseException(String(last))
    }
}

/// A ClickHouse version, for the few places where the SQL differs between 18.16 and modern servers.
public struct ServerVersion: Sendable, Comparable, CustomStringConvertible {
    public let parts: [Int]

    init?(_ text: String) {
        let parts = text.split(separator: ".").compactMap { Int($0) }
        guard parts.count >= 2 else { return nil }
        self.parts = parts
    }

    public static func < (a: ServerVersion, b: ServerVersion) -> Bool { a.parts.lexicographicallyPrecedes(b.parts) }
    public var description: String { parts.map(String.init).joined(separator: ".") }

    public static func atLeast(_ major: Int, _ minor: Int) -> ServerVersion { ServerVersion("\(major).\(minor)")! }
}
