internal import CCurl
import Dispatch

/// libcurl's global state, initialised once before the first handle (lazy globals are thread-safe).
private let curlGlobalInit: Void = {
    let code = ccurl_global_init()
    precondition(code == CURLE_OK, "curl_global_init failed: \(String(cString: curl_easy_strerror(code)))")
}()

/// The project's HTTP client, over libcurl.
///
/// - Transfers run on dedicated threads (one serial queue per easy handle), never on the Swift
///   cooperative pool, so a slow server blocks no other task.
/// - At most `maxConnections` transfers run at once; each reuses a pooled easy handle and with it
///   that handle's open connections.
/// - TLS peers are always verified. `http_proxy`, `https_proxy` and `no_proxy` are honoured.
///   Redirects are not followed: a 3xx is returned as a response.
/// - Cancelling the calling task aborts its transfer within about a second (libcurl's progress
///   callback cadence on an idle connection) and throws `.cancelled`.
public final class HTTPClient: Sendable {
    public struct Configuration: Sendable {
        public var userAgent: String
        /// Time allowed for DNS, TCP and TLS setup.
        public var connectTimeout: Duration
        /// Time allowed for a whole request, unless `HTTPRequest.timeout` says otherwise.
        public var totalTimeout: Duration
        /// A transfer slower than `lowSpeedLimit` bytes per second for `lowSpeedTime` (whole
        /// seconds, rounded up) fails with `.timeout`: a stalled response fails long before
        /// `totalTimeout`. A limit of 0 disables the check.
        public var lowSpeedLimit: Int
        public var lowSpeedTime: Duration
        /// How many transfers may run at once, each with its own easy handle, thread and
        /// connection cache. Further requests wait for a free handle.
        public var maxConnections: Int

        public init(
            userAgent: String = "etl/0.1.0",
            connectTimeout: Duration = .seconds(10),
            totalTimeout: Duration = .seconds(60),
            lowSpeedLimit: Int = 1,
            lowSpeedTime: Duration = .seconds(30),
            maxConnections: Int = 8
        ) {
            self.userAgent = userAgent
            self.connectTimeout = connectTimeout
            self.totalTimeout = totalTimeout
            self.lowSpeedLimit = lowSpeedLimit
            self.lowSpeedTime = lowSpeedTime
            self.maxConnections = maxConnections
        }
    }

    public let configuration: Configuration
    private let pool: EasyHandlePool
    /// For a client with one connection (`maxConnections: 1`): an executor on the thread its
    /// transfers run on. A task that prefers it runs its transfers right there and the work between
    /// them on the same thread, so an answer is followed by the next request without a thread
    /// switch, and never waits for a thread of the cooperative pool busy with other work. `nil` for
    /// clients with more connections.
    public let transferExecutor: (any TaskExecutor)?

    public init(configuration: Configuration = .init()) {
        curlGlobalInit
        self.configuration = configuration
        if configuration.maxConnections <= 1 {
            let queue = DispatchQueue(label: "HTTPClient.EasyHandle")
            pool = EasyHandlePool(capacity: 1, transferQueue: queue)
            transferExecutor = TransferExecutor(queue: queue)
        } else {
            pool = EasyHandlePool(capacity: configuration.maxConnections, transferQueue: nil)
            transferExecutor = nil
        }
    }

    /// Sends `request` and returns the complete response, whatever its status. Throws only when
    /// no response arrived: timeout, connection or TLS failure, invalid request, cancellation.
    public func execute(_ request: HTTPRequest) async throws(HTTPClientError) -> HTTPResponse {
        let prepared = try PreparedRequest(request)
        let cancelled = HTTPClientError(kind: .cancelled, message: "\(prepared.method) \(prepared.redactedURL): cancelled")
        guard !Task.isCancelled, let handle = await pool.acquire() else { throw cancelled }
        defer { pool.release(handle) }

        let flag = CancellationFlag()
        let configuration = self.configuration
        let result = await withTaskCancellationHandler {
            // A task on `transferExecutor` is on the handle's thread already: no hop there and back.
            if handle.isCurrentQueue { return handle.perform(prepared, configuration: configuration, cancellation: flag) }
            return await withCheckedContinuation { continuation in
                handle.queue.async {
                    continuation.resume(
                        returning: handle.perform(prepared, configuration: configuration, cancellation: flag)
                    )
                }
            }
        } onCancel: {
            flag.cancel()
        }
        return try result.get()
    }
}
