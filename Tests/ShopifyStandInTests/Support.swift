import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ShopifyStandInKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let accessToken = "standin-access-token"
let tokenHeader = HTTPField.Name("X-Shopify-Access-Token")!
let callLimitHeader = HTTPField.Name("X-Shopify-Shop-Api-Call-Limit")!
let linkHeader = HTTPField.Name("Link")!
let apiBase = "/admin/api/2026-10"

/// Runs `body` against a live stand-in on a loopback port. Rate limiting is off unless configured.
func withStandIn<Value: Sendable>(
    orders: Int = 600,
    seed: UInt64 = 7,
    configuration: StandInConfiguration = StandInConfiguration(leakRate: 0),
    _ body: @escaping @Sendable (ShopifyStandIn, any TestClientProtocol) async throws -> Value
) async throws -> Value {
    let standIn = ShopifyStandIn(shop: Shop(orderCount: orders, seed: seed), configuration: configuration)
    return try await standIn.application().test(.live) { client in try await body(standIn, client) }
}

extension TestClientProtocol {
    /// GET with the access token (or `token`, or none when `nil`).
    func get(_ uri: String, token: String? = accessToken) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let token { headers[tokenHeader] = token }
        return try await execute(uri: uri, method: .get, headers: headers)
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }

    var json: [String: Any] {
        get throws {
            let object = try JSONSerialization.jsonObject(with: Data(buffer: body, byteTransferStrategy: .copy))
            guard let dictionary = object as? [String: Any] else { throw TestFailure("not a JSON object: \(text)") }
            return dictionary
        }
    }

    var orders: [[String: Any]] {
        get throws {
            guard let orders = try json["orders"] as? [[String: Any]] else { throw TestFailure("no orders: \(text)") }
            return orders
        }
    }

    var orderIDs: [Int] {
        get throws { try orders.map { $0["id"] as! Int } }
    }

    /// The path and query of the `Link` header's URL for `rel`, or nil.
    func link(_ rel: String) -> String? {
        guard let header = headers[linkHeader] else { return nil }
        for part in header.split(separator: ",") where part.contains("rel=\"\(rel)\"") {
            guard let open = part.firstIndex(of: "<"), let close = part.firstIndex(of: ">") else { continue }
            let url = part[part.index(after: open)..<close]
            guard let pathStart = url.range(of: "/admin/") else { continue }
            return String(url[pathStart.lowerBound...])
        }
        return nil
    }
}

extension ByteBuffer {
    var bytes: [UInt8] { Array(readableBytesView) }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs blocking socket code on a thread of its own: blocking a thread of Swift's cooperative pool
/// (one per core) would starve the in-process server that is meant to answer.
func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: body()) }
    }
}

/// Sends one raw HTTP/1.1 request over a fresh IPv4 loopback connection and returns what came back,
/// or the `errno` that ended the read (ECONNRESET for a reset connection).
func rawRequest(port: Int, path: String, token: String = accessToken) -> (response: [UInt8], errno: Int32?) {
    let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    precondition(socketFD >= 0, "socket() failed")
    defer { close(socketFD) }
    var timeout = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(socketFD, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(socketFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard connected == 0 else { return ([], errno) }
    let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nX-Shopify-Access-Token: \(token)\r\nConnection: close\r\n\r\n"
    _ = request.withCString { send(socketFD, $0, strlen($0), 0) }
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = recv(socketFD, &buffer, buffer.count, 0)
        if count > 0 {
            received.append(contentsOf: buffer[0..<count])
        } else if count == 0 {
            return (received, nil)
        } else {
            return (received, errno)
        }
    }
}

/// Runs the stand-in's own application on 127.0.0.1 (as the executable does) for `body`.
func withRunningApplication<Value: Sendable>(
    _ standIn: ShopifyStandIn,
    _ body: @escaping @Sendable (Int) async throws -> Value
) async throws -> Value {
    let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
    let app = standIn.application(host: "127.0.0.1", port: 0) { port in continuation.yield(port) }
    return try await withThrowingTaskGroup(of: Value?.self) { group in
        group.addTask {
            try await app.run()
            return nil
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw TestFailure("server did not start") }
        let value = try await body(port)
        group.cancelAll()
        return value
    }
}
