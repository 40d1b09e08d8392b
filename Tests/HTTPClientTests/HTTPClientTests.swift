import Dispatch
import Foundation
import HTTPClient
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct HTTPClientTests {
    @Test func getSendsHeadersAndReturnsAnyStatus() async throws {
        try await withTestServer { port in
            let client = HTTPClient()
            let response = try await client.execute(
                HTTPRequest(url: "http://127.0.0.1:\(port)/hello?a=1&b=2", headers: [("X-Token", "abc")])
            )
            #expect(response.status == 200)
            #expect(String(decoding: response.body, as: UTF8.self) == "hello")
            #expect(response.header("X-Seen-Token") == "abc")
            #expect(response.header("X-Seen-Agent") == "etl/0.1.0")
            #expect(response.header("X-Seen-Query") == "a=1&b=2")

            let unavailable = try await client.execute(HTTPRequest(url: "http://127.0.0.1:\(port)/status/503"))
            #expect(unavailable.status == 503)
            let head = try await client.execute(HTTPRequest(method: "HEAD", url: "http://127.0.0.1:\(port)/hello"))
            #expect(head.status == 200 && head.body.isEmpty)
        }
    }

    @Test func bodiesRoundTrip() async throws {
        try await withTestServer { port in
            let client = HTTPClient()
            var generator = SystemRandomNumberGenerator()
            let large = (0..<1_000_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let posted = try await client.execute(
                HTTPRequest(method: "POST", url: "http://127.0.0.1:\(port)/echo", body: large)
            )
            #expect(posted.status == 200)
            #expect(posted.header("x-method") == "POST")
            #expect(posted.body == large)

            let put = try await client.execute(
                HTTPRequest(method: "PUT", url: "http://127.0.0.1:\(port)/echo", body: Array("put".utf8))
            )
            #expect(put.header("x-method") == "PUT")
            #expect(put.body == Array("put".utf8))

            let empty = try await client.execute(HTTPRequest(method: "POST", url: "http://127.0.0.1:\(port)/echo"))
            #expect(empty.status == 200 && empty.body.isEmpty)
        }
    }

    /// The body leaves gzip-compressed; that a server decodes it is shown by the ClickHouse tests.
    @Test func compressedBodiesAreSentAsGzip() async throws {
        try await withTestServer { port in
            let text = Array(String(repeating: "etl batch row\n", count: 10_000).utf8)
            let echoed = try await HTTPClient().execute(
                HTTPRequest(method: "POST", url: "http://127.0.0.1:\(port)/echo", body: text, compressBody: true))
            #expect(echoed.body.prefix(2) == [0x1F, 0x8B])
            #expect(echoed.body.count < text.count / 20)
        }
    }

    @Test func responseHeadersKeepEveryValueAndIgnoreCase() async throws {
        try await withTestServer { port in
            let response = try await HTTPClient().execute(HTTPRequest(url: "http://127.0.0.1:\(port)/multi"))
            #expect(response.headerValues("SET-COOKIE") == ["a=1", "b=2"])
            #expect(response.header("Set-Cookie") == "a=1, b=2")
            #expect(response.header("x-mixed-case") == "Value")
            #expect(response.headers.contains { $0.name == "x-mixed-case" })
            #expect(response.headers.allSatisfy { $0.name == $0.name.lowercased() })
            #expect(response.header("absent") == nil)
        }
    }

    @Test func gzipBodyIsDecoded() async throws {
        try await withTestServer { port in
            let response = try await HTTPClient().execute(HTTPRequest(url: "http://127.0.0.1:\(port)/gzip"))
            #expect(response.status == 200)
            #expect(response.header("content-encoding") == "gzip")
            #expect(String(decoding: response.body, as: UTF8.self) == "hello gzip, hello gzip, hello gzip, hello gzip!")
        }
    }

    @Test func sequentialRequestsReuseTheConnection() async throws {
        try await withTestServer { port in
            let client = HTTPClient()
            var ports: Set<String> = []
            for _ in 0..<3 {
                let response = try await client.execute(HTTPRequest(url: "http://127.0.0.1:\(port)/port"))
                ports.insert(String(decoding: response.body, as: UTF8.self))
            }
            #expect(ports.count == 1)
            #expect(ports.allSatisfy { (Int($0) ?? 0) > 0 })
        }
    }

    @Test func concurrentRequestsBeyondThePoolSizeWait() async throws {
        try await withTestServer { port in
            let client = HTTPClient(configuration: .init(maxConnections: 2))
            let ports = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        let response = try await client.execute(HTTPRequest(url: "http://127.0.0.1:\(port)/port"))
                        return String(decoding: response.body, as: UTF8.self)
                    }
                }
                return try await group.reduce(into: Set<String>()) { $0.insert($1) }
            }
            #expect((1...2).contains(ports.count))
        }
    }

    @Test func stalledResponseTimesOut() async throws {
        try await withTestServer { port in
            let url = "http://127.0.0.1:\(port)/stall"
            let clock = ContinuousClock()
            let start = clock.now

            let total = await #expect(throws: HTTPClientError.self) {
                _ = try await HTTPClient(configuration: .init(totalTimeout: .seconds(1))).execute(HTTPRequest(url: url))
            }
            #expect(total?.kind == .timeout)
            #expect(total?.isRetryable == true)

            let perRequest = await #expect(throws: HTTPClientError.self) {
                _ = try await HTTPClient().execute(HTTPRequest(url: url, timeout: .milliseconds(500)))
            }
            #expect(perRequest?.kind == .timeout)

            #expect(clock.now - start < .seconds(4))

            // libcurl averages the speed over its last few seconds, so this takes about five.
            let lowSpeed = await #expect(throws: HTTPClientError.self) {
                _ = try await HTTPClient(configuration: .init(lowSpeedTime: .seconds(1))).execute(HTTPRequest(url: url))
            }
            #expect(lowSpeed?.kind == .timeout)
            #expect(lowSpeed?.message.contains("too slow") == true)
            #expect(clock.now - start < .seconds(20))
        }
    }

    /// The server answers only once `onSent` has run: called after the answer, the request would
    /// time out.
    @Test func onSentRunsOnceTheRequestIsOutBeforeItsAnswer() async throws {
        try await withTestServer { port in
            let key = UUID().uuidString
            let calls = Mutex(0)
            var request = HTTPRequest(url: "http://127.0.0.1:\(port)/gate?key=\(key)", timeout: .seconds(10))
            request.onSent = {
                calls.withLock { $0 += 1 }
                Gates.open(key)
            }
            let response = try await HTTPClient().execute(request)
            #expect(response.status == 200 && String(decoding: response.body, as: UTF8.self) == "through")
            #expect(calls.withLock { $0 } == 1)
        }
        try await withClosedPort { port in
            let calls = Mutex(0)
            var request = HTTPRequest(url: "http://127.0.0.1:\(port)/")
            request.onSent = { calls.withLock { $0 += 1 } }
            await #expect(throws: HTTPClientError.self) { _ = try await HTTPClient().execute(request) }
            #expect(calls.withLock { $0 } == 0, "a request that could not be sent is not announced")
        }
    }

    @Test func refusedConnectionFails() async throws {
        try await withClosedPort { port in
            let error = await #expect(throws: HTTPClientError.self) {
                _ = try await HTTPClient().execute(HTTPRequest(url: "http://127.0.0.1:\(port)/"))
            }
            #expect(error?.kind == .connectionFailed)
            #expect(error?.isRetryable == true)
        }
    }

    @Test func errorDescriptionsOmitQueryAndHeaders() async throws {
        let request = { @Sendable (url: String) in
            HTTPRequest(url: url + "?token=secret", headers: [("X-Token", "hidden")], timeout: .seconds(1))
        }
        try await withClosedPort { port in
            let refused = await #expect(throws: HTTPClientError.self) {
                _ = try await HTTPClient().execute(request("http://user:pw@127.0.0.1:\(port)/orders.json"))
            }
            let text = refused.map(String.init(describing:)) ?? ""
            #expect(text.contains("GET http://127.0.0.1:\(port)/orders.json"))
            for secret in ["secret", "token", "hidden", "pw"] { #expect(!text.contains(secret)) }
        }
        try await withTestServer { port in
            let timedOut = await #expect(throws: HTTPClientError.self) {
                _ = try await HTTPClient().execute(request("http://127.0.0.1:\(port)/stall"))
            }
            let text = timedOut.map(String.init(describing:)) ?? ""
            #expect(text.contains("GET http://127.0.0.1:\(port)/stall"))
            for secret in ["secret", "token", "hidden"] { #expect(!text.contains(secret)) }
        }
    }

    @Test func invalidRequestsAreRejectedBeforeSending() async throws {
        let client = HTTPClient()
        for url in ["not a url", "ftp://example.com/file", "/relative/path"] {
            let error = await #expect(throws: HTTPClientError.self) {
                _ = try await client.execute(HTTPRequest(url: url))
            }
            #expect(error?.kind == .invalidURL)
        }
        let injected = await #expect(throws: HTTPClientError.self) {
            _ = try await client.execute(HTTPRequest(url: "http://127.0.0.1:9/", headers: [("X-A", "1\r\nX-B: 2")]))
        }
        #expect(injected?.kind == .invalidRequest)
        let badMethod = await #expect(throws: HTTPClientError.self) {
            _ = try await client.execute(HTTPRequest(method: "GET /x", url: "http://127.0.0.1:9/"))
        }
        #expect(badMethod?.kind == .invalidRequest)
    }

    /// Also for a task on a one-connection client's transfer thread, where the transfer runs inline.
    @Test(arguments: [false, true]) func cancellingTheTaskAbortsTheTransfer(onTheTransferThread: Bool) async throws {
        try await withTestServer { port in
            let client = HTTPClient(configuration: .init(maxConnections: onTheTransferThread ? 1 : 8))
            let clock = ContinuousClock()
            let start = clock.now
            let task = Task(executorPreference: client.transferExecutor) {
                try await client.execute(HTTPRequest(url: "http://127.0.0.1:\(port)/stall"))
            }
            try await Task.sleep(for: .milliseconds(300))
            task.cancel()
            guard case .failure(let error as HTTPClientError) = await task.result else {
                Issue.record("expected an HTTPClientError")
                return
            }
            #expect(error.kind == .cancelled)
            #expect(clock.now - start < .seconds(5))
        }
    }
}

/// Runs `body` with a port bound on 127.0.0.1 but not listening: connecting to it is refused.
private func withClosedPort(_ body: (Int) async throws -> Void) async throws {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    try #require(fd >= 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    try #require(bound)
    try await body(Int(UInt16(bigEndian: address.sin_port)))
}

/// `HTTPClient.transferExecutor`: what it is for, and that requests made from it complete.
@Suite struct TransferExecutorTests {
    /// A task that prefers the executor runs while every thread of the cooperative pool is busy.
    /// Here the pool's threads block until that task releases them; were it queued on the pool
    /// behind them, they would give up after 5 s and the test would fail.
    @Test func aTaskPreferringItRunsWhileEveryPoolThreadIsBusy() async throws {
        let executor = try #require(HTTPClient(configuration: .init(maxConnections: 1)).transferExecutor)
        let poolWidth = ProcessInfo.processInfo.activeProcessorCount
        let started = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let blockers = (0..<poolWidth).map { _ in
            Task.detached {
                started.signal()
                return release.wait(timeout: .now() + 5) == .success
            }
        }
        // Releases the blockers once they have started (or after 5 s: other tests may hold pool
        // threads too, and a blocker that starts late finds its release waiting).
        await Task(executorPreference: executor) {
            for _ in 0..<poolWidth { _ = started.wait(timeout: .now() + 5) }
            for _ in 0..<poolWidth { release.signal() }
        }.value
        for blocker in blockers {
            #expect(await blocker.value, "a pool thread waited 5 s: the task did not run on the transfer executor")
        }
    }

    /// Requests from a task on the executor run on the same thread as the task, one after the
    /// other; each must still complete (a transfer that waited for the task's thread would hang).
    @Test func requestsFromATaskOnItComplete() async throws {
        try await withTestServer { port in
            let client = HTTPClient(configuration: .init(totalTimeout: .seconds(10), maxConnections: 1))
            let statuses = try await Task(executorPreference: client.transferExecutor) {
                var statuses: [Int] = []
                for path in ["hello", "status/503", "hello"] {
                    statuses.append(try await client.execute(HTTPRequest(url: "http://127.0.0.1:\(port)/\(path)")).status)
                }
                return statuses
            }.value
            #expect(statuses == [200, 503, 200])
            #expect(HTTPClient(configuration: .init(maxConnections: 2)).transferExecutor == nil)
        }
    }
}
