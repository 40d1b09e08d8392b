import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

// Kept apart from the tests: Hummingbird re-exports HTTPTypes' `HTTPRequest` and `HTTPResponse`,
// whose names clash with the client's.

/// Records the client's remote port, so tests can tell a reused connection from a new one.
struct TestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let remotePort: Int?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remotePort = source.channel.remoteAddress?.port
    }
}

/// "hello gzip, hello gzip, hello gzip, hello gzip!" compressed by `gzip -9n`.
let gzippedHello: [UInt8] = [
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0x57, 0x48, 0xaf,
    0xca, 0x2c, 0xd0, 0x51, 0xc8, 0x20, 0xc8, 0x56, 0x04, 0x00, 0x9a, 0xe2, 0xcd, 0xda, 0x2f, 0x00, 0x00, 0x00,
]

private func makeRouter() -> Router<TestContext> {
    let router = Router(context: TestContext.self)
    // Echoes what the client sent in response headers.
    router.get("hello") { request, _ in
        var headers = HTTPFields()
        headers[.contentType] = "text/plain"
        headers[HTTPField.Name("X-Seen-Token")!] = request.headers[HTTPField.Name("X-Token")!] ?? "none"
        headers[HTTPField.Name("X-Seen-Agent")!] = request.headers[.userAgent] ?? "none"
        headers[HTTPField.Name("X-Seen-Query")!] = request.uri.query ?? ""
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "hello")))
    }
    router.head("hello") { _, _ in Response(status: .ok) }
    router.get("status/:code") { _, context in
        Response(status: .init(code: try context.parameters.require("code", as: Int.self)))
    }
    router.on("echo", method: .post) { request, context in try await echo(request, context) }
    router.on("echo", method: .put) { request, context in try await echo(request, context) }
    router.get("multi") { _, _ in
        var headers = HTTPFields()
        headers.append(HTTPField(name: .setCookie, value: "a=1"))
        headers.append(HTTPField(name: .setCookie, value: "b=2"))
        headers.append(HTTPField(name: HTTPField.Name("X-Mixed-Case")!, value: "Value"))
        return Response(status: .ok, headers: headers)
    }
    router.get("gzip") { request, _ in
        guard request.headers[.acceptEncoding]?.contains("gzip") == true else {
            return Response(status: .notAcceptable)
        }
        return Response(
            status: .ok,
            headers: [.contentEncoding: "gzip"],
            body: .init(byteBuffer: ByteBuffer(bytes: gzippedHello))
        )
    }
    router.get("port") { _, context in
        "\(context.remotePort ?? -1)"
    }
    // Answers once a test has opened the gate named by `key` (`Gates.open`).
    router.get("gate") { request, _ in
        await Gates.passage(request.uri.queryParameters["key"].map(String.init) ?? "")
        return "through"
    }
    // Sends the headers and a few body bytes, then nothing.
    router.get("stall") { _, _ in
        Response(
            status: .ok,
            body: .init(contentLength: 1000) { writer in
                try await writer.write(ByteBuffer(string: "partial"))
                try await Task.sleep(for: .seconds(60))
            }
        )
    }
    return router
}

private func echo(_ request: Request, _ context: TestContext) async throws -> Response {
    let body = try await request.body.collect(upTo: context.maxUploadSize)
    return Response(
        status: .ok,
        headers: [HTTPField.Name("X-Method")!: request.method.rawValue],
        body: .init(byteBuffer: body)
    )
}

/// Runs `body` with the port of a fresh server on 127.0.0.1, then stops the server.
func withTestServer<T: Sendable>(_ body: @Sendable (Int) async throws -> T) async throws -> T {
    let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
    var logger = Logger(label: "HTTPClientTests.server")
    logger.logLevel = .critical
    let app = Application(
        router: makeRouter(),
        configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in
            portContinuation.yield(channel.localAddress?.port ?? 0)
            portContinuation.finish()
        },
        logger: logger
    )
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await app.run() }
        defer { group.cancelAll() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else { throw TestServerError.noPort }
        return try await body(port)
    }
}

enum TestServerError: Error { case noPort }

/// Named gates that `/gate?key=K` waits at until a test opens gate K.
enum Gates {
    private static let state = Mutex<(open: Set<String>, waiting: [String: [CheckedContinuation<Void, Never>]])>(([], [:]))

    static func open(_ key: String) {
        let waiting = state.withLock { state in
            state.open.insert(key)
            return state.waiting.removeValue(forKey: key) ?? []
        }
        for waiter in waiting { waiter.resume() }
    }

    static func passage(_ key: String) async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let isOpen = state.withLock { state in
                if !state.open.contains(key) { state.waiting[key, default: []].append(waiter) }
                return state.open.contains(key)
            }
            if isOpen { waiter.resume() }
        }
    }
}
