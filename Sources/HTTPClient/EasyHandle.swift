internal import CCurl
import Dispatch
import Synchronization

/// Set by the task-cancellation handler, read by the transfer's progress callback.
final class CancellationFlag: Sendable {
    private let flag = Atomic<Bool>(false)

    func cancel() { flag.store(true, ordering: .relaxed) }
    var isCancelled: Bool { flag.load(ordering: .relaxed) }
}

/// A libcurl easy handle and the serial queue its blocking transfers run on.
///
/// The handle is reused across requests: `curl_easy_reset` clears the options but keeps the live
/// connections, DNS and TLS session caches, so a later request to the same host skips the
/// handshake. Each handle has a serial queue of its own (a one-connection client's also runs its
/// `transferExecutor`) because custom concurrent queues are not overcommitting: a blocked
/// `curl_easy_perform` on one would hold one of very few worker threads.
/// `@unchecked Sendable`: the pool hands a handle to one request at a time.
final class EasyHandle: @unchecked Sendable {
    private let curl: UnsafeMutableRawPointer
    let queue: DispatchQueue

    /// Marks each handle's queue, so that `isCurrentQueue` can tell when a caller runs on it.
    private static let queueKey = DispatchSpecificKey<ObjectIdentifier>()

    init(queue: DispatchQueue) {
        self.queue = queue
        queue.setSpecific(key: Self.queueKey, value: ObjectIdentifier(queue))
        guard let curl = curl_easy_init() else { fatalError("curl_easy_init failed (out of memory)") }
        self.curl = curl
    }

    deinit { curl_easy_cleanup(curl) }

    /// Whether the caller runs on `queue`, where `perform` may then be called directly.
    var isCurrentQueue: Bool { DispatchQueue.getSpecific(key: Self.queueKey) == ObjectIdentifier(queue) }

    /// Runs one transfer to completion. Blocks: call on `queue`.
    func perform(
        _ request: PreparedRequest,
        configuration: HTTPClient.Configuration,
        cancellation: CancellationFlag
    ) -> Result<HTTPResponse, HTTPClientError> {
        // Resetting afterwards (not before) also drops the pointers to this call's buffers.
        defer { curl_easy_reset(curl) }
        let state = TransferState(curl: curl, cancellation: cancellation, onSent: request.onSent)
        // In case no progress callback came between the sending and the end of the transfer.
        defer { state.announceSentIfSent() }
        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE))
        defer { errorBuffer.deallocate() }
        errorBuffer[0] = 0

        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }
        for line in request.headerLines {
            guard let appended = curl_slist_append(headerList, line) else {
                return .failure(failure(request, CURLE_OUT_OF_MEMORY, errorBuffer))
            }
            headerList = appended
        }

        let userData = Unmanaged.passUnretained(state).toOpaque()
        var codes = [
            ccurl_easy_setopt_string(curl, CURLOPT_URL, request.url),
            ccurl_easy_setopt_string(curl, CURLOPT_PROTOCOLS_STR, "http,https"),
            ccurl_easy_setopt_long(curl, CURLOPT_NOSIGNAL, 1),
            ccurl_easy_setopt_long(curl, CURLOPT_FOLLOWLOCATION, 0),
            ccurl_easy_setopt_long(curl, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1),
            // "" offers every encoding libcurl can decode (gzip, deflate) and decodes the body.
            ccurl_easy_setopt_string(curl, CURLOPT_ACCEPT_ENCODING, ""),
            ccurl_easy_setopt_string(curl, CURLOPT_USERAGENT, configuration.userAgent),
            // Reads of up to 256 KB (not 16 KB): a 330 KB page of orders arrives in about two
            // recv calls instead of twenty, with as many fewer polls and write callbacks.
            ccurl_easy_setopt_long(curl, CURLOPT_BUFFERSIZE, 256 * 1024),
            ccurl_easy_setopt_long(curl, CURLOPT_CONNECTTIMEOUT_MS, milliseconds(configuration.connectTimeout)),
            ccurl_easy_setopt_long(curl, CURLOPT_TIMEOUT_MS, milliseconds(request.timeout ?? configuration.totalTimeout)),
            ccurl_easy_setopt_long(curl, CURLOPT_LOW_SPEED_LIMIT, configuration.lowSpeedLimit),
            ccurl_easy_setopt_long(curl, CURLOPT_LOW_SPEED_TIME, seconds(configuration.lowSpeedTime)),
            ccurl_easy_setopt_slist(curl, CURLOPT_HTTPHEADER, headerList),
            ccurl_easy_setopt_pointer(curl, CURLOPT_ERRORBUFFER, errorBuffer),
            ccurl_easy_setopt_write_callback(curl, CURLOPT_WRITEFUNCTION) { data, size, count, userData in
                let state = Unmanaged<TransferState>.fromOpaque(userData!).takeUnretainedValue()
                state.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: size * count))
                return size * count
            },
            ccurl_easy_setopt_pointer(curl, CURLOPT_WRITEDATA, userData),
            ccurl_easy_setopt_write_callback(curl, CURLOPT_HEADERFUNCTION) { data, size, count, userData in
                let state = Unmanaged<TransferState>.fromOpaque(userData!).takeUnretainedValue()
                state.receiveHeaderLine(UnsafeRawBufferPointer(start: data, count: size * count))
                return size * count
            },
            ccurl_easy_setopt_pointer(curl, CURLOPT_HEADERDATA, userData),
            // The progress callback runs at least about once a second, even on a stalled
            // connection; returning non-zero aborts the transfer with CURLE_ABORTED_BY_CALLBACK.
            ccurl_easy_setopt_long(curl, CURLOPT_NOPROGRESS, 0),
            ccurl_easy_setopt_xferinfo_callback(curl, CURLOPT_XFERINFOFUNCTION) { userData, _, _, _, _ in
                let state = Unmanaged<TransferState>.fromOpaque(userData!).takeUnretainedValue()
                state.announceSentIfSent()
                return state.cancellation.isCancelled ? 1 : 0
            },
            ccurl_easy_setopt_pointer(curl, CURLOPT_XFERINFODATA, userData),
        ]
        if let signing = request.awsSigning {
            codes += [
                ccurl_easy_setopt_string(curl, CURLOPT_AWS_SIGV4, signing.provider),
                // Apart, not as CURLOPT_USERPWD: a secret may contain ':'.
                ccurl_easy_setopt_string(curl, CURLOPT_USERNAME, signing.accessKey),
                ccurl_easy_setopt_string(curl, CURLOPT_PASSWORD, signing.secretKey),
            ]
        }
        // libcurl reads the body where it is (CURLOPT_POSTFIELDS, not a copy), so the transfer
        // runs inside the closure that holds the body's bytes in place.
        let code = withBodyBytes(request) { body in
            codes += setMethodAndBody(request.method, body)
            if let failed = codes.first(where: { $0 != CURLE_OK }) { return failed }
            if cancellation.isCancelled { return CURLE_ABORTED_BY_CALLBACK }
            return curl_easy_perform(curl)
        }
        guard code == CURLE_OK else { return .failure(failure(request, code, errorBuffer)) }
        var status = 0
        _ = ccurl_easy_getinfo_long(curl, CURLINFO_RESPONSE_CODE, &status)
        return .success(HTTPResponse(status: status, lowercasedHeaders: state.headers, body: state.body))
    }

    /// The request's body (an empty one for a POST without) at a fixed address for the length
    /// of `perform`. An empty body still gets a non-null address: with null, libcurl would read the
    /// body from stdin.
    private func withBodyBytes(_ request: PreparedRequest, _ perform: (UnsafeRawBufferPointer?) -> CURLcode) -> CURLcode {
        guard let body = request.body ?? (request.method == "POST" ? [] : nil) else { return perform(nil) }
        guard !body.isEmpty else { return withUnsafeBytes(of: UInt8(0)) { perform(UnsafeRawBufferPointer(rebasing: $0[..<0])) } }
        return body.withUnsafeBytes { perform($0) }
    }

    /// The options for `method` and `body`; libcurl reads `body` where it is, during the transfer.
    private func setMethodAndBody(_ method: String, _ body: UnsafeRawBufferPointer?) -> [CURLcode] {
        switch (method, body) {
        case (let method, let body?):
            // The size is set so that libcurl does not take the body's length with strlen.
            let size = ccurl_easy_setopt_off_t(curl, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
            let fields = ccurl_easy_setopt_pointer(curl, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: body.baseAddress))
            let customMethod = method == "POST" ? CURLE_OK : ccurl_easy_setopt_string(curl, CURLOPT_CUSTOMREQUEST, method)
            return [size, fields, customMethod]
        case ("GET", nil):
            return [ccurl_easy_setopt_long(curl, CURLOPT_HTTPGET, 1)]
        case ("HEAD", nil):
            return [ccurl_easy_setopt_long(curl, CURLOPT_NOBODY, 1)]
        case (let method, nil):
            return [ccurl_easy_setopt_string(curl, CURLOPT_CUSTOMREQUEST, method)]
        }
    }

    private func failure(
        _ request: PreparedRequest,
        _ code: CURLcode,
        _ errorBuffer: UnsafeMutablePointer<CChar>
    ) -> HTTPClientError {
        let kind = HTTPClientError.Kind(code)
        let detail = errorBuffer[0] != 0 ? String(cString: errorBuffer) : String(cString: curl_easy_strerror(code))
        let text = kind == .cancelled ? "cancelled" : request.redact(detail)
        return HTTPClientError(
            kind: kind,
            message: "\(request.method) \(request.redactedURL): \(text)",
            curlCode: Int(code.rawValue)
        )
    }
}

/// What the callbacks of one transfer collect. Touched only on the handle's queue.
private final class TransferState {
    private let curl: UnsafeMutableRawPointer
    let cancellation: CancellationFlag
    private var onSent: (@Sendable () -> Void)?
    var body: [UInt8] = []
    var headers: [(name: String, value: String)] = []
    /// A `Content-Length` is trusted for this much room ahead of the body, no more.
    private static let maximumReservation = 64 << 20

    init(curl: UnsafeMutableRawPointer, cancellation: CancellationFlag, onSent: (@Sendable () -> Void)?) {
        self.curl = curl
        self.cancellation = cancellation
        self.onSent = onSent
    }

    /// Calls `onSent` once the request has gone out: `CURLINFO_REQUEST_SIZE` is 0 until then. From
    /// the progress callback, which libcurl also calls right after sending, before it waits.
    func announceSentIfSent() {
        guard let onSent else { return }
        var sent = 0
        guard ccurl_easy_getinfo_long(curl, CURLINFO_REQUEST_SIZE, &sent) == CURLE_OK, sent > 0 else { return }
        self.onSent = nil
        onSent()
    }

    /// Called once per raw header line, CRLF included. Works on bytes: it runs for every header of
    /// every response, between one request and the next.
    func receiveHeaderLine(_ line: UnsafeRawBufferPointer) {
        if line.starts(with: "HTTP/".utf8) {
            // A status line: a new response starts (after a 1xx), its headers replace the old ones.
            headers.removeAll()
        } else if line.first == UInt8(ascii: " ") || line.first == UInt8(ascii: "\t"), !headers.isEmpty {
            // Obsolete line folding continues the previous value.
            headers[headers.count - 1].value += " " + String(decoding: trimmed(line[...]), as: UTF8.self)
        } else if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
            let name = String(decoding: line[..<colon], as: UTF8.self).lowercased()
            let value = String(decoding: trimmed(line[(colon + 1)...]), as: UTF8.self)
            headers.append((name, value))
            // The body arrives in pieces: room for all of it at once saves regrowing and copying.
            if name == "content-length", let length = Int(value), length <= Self.maximumReservation {
                body.reserveCapacity(length)
            }
        }
    }

    /// `bytes` without leading and trailing whitespace (line ends included).
    private func trimmed(_ bytes: Slice<UnsafeRawBufferPointer>) -> Slice<UnsafeRawBufferPointer> {
        let isSpace = { (byte: UInt8) in byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A }
        guard let first = bytes.firstIndex(where: { !isSpace($0) }), let last = bytes.lastIndex(where: { !isSpace($0) })
        else { return bytes[bytes.endIndex...] }
        return bytes[first...last]
    }
}

/// At least 1: libcurl reads 0 as "no timeout".
private func milliseconds(_ duration: Duration) -> Int {
    let (seconds, attoseconds) = duration.components
    return max(1, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
}

private func seconds(_ duration: Duration) -> Int {
    max(1, (milliseconds(duration) + 999) / 1000)
}
