internal import CCurl

/// Why a request got no HTTP response.
///
/// `message` names the request as `METHOD scheme://host:port/path`: never the query string, user
/// info or headers, which may carry secrets.
public struct HTTPClientError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Connect timeout, total timeout, or the response stalled below the low-speed limit.
        case timeout
        /// Refused, unresolvable host or proxy, unreachable network.
        case connectionFailed
        /// The peer closed or reset the connection, sent nothing, or sent a truncated body.
        case connectionReset
        /// TLS handshake or certificate verification failed.
        case tls
        /// Not an absolute http(s) URL.
        case invalidURL
        /// A malformed method or header (for instance a value containing CR or LF); nothing was sent.
        case invalidRequest
        /// The calling task was cancelled.
        case cancelled
        case other
    }

    public var kind: Kind
    public var message: String
    /// The libcurl `CURLcode`, or nil when the error did not come from libcurl.
    public var curlCode: Int?

    public init(kind: Kind, message: String, curlCode: Int? = nil) {
        self.kind = kind
        self.message = message
        self.curlCode = curlCode
    }

    /// True for failures a retry may cure. The caller still decides whether the request is safe to
    /// repeat: after `.connectionReset` or `.timeout` a POST may have reached the server.
    public var isRetryable: Bool {
        switch kind {
        case .timeout, .connectionFailed, .connectionReset: true
        case .tls, .invalidURL, .invalidRequest, .cancelled, .other: false
        }
    }

    public var description: String {
        guard let curlCode else { return message }
        return "\(message) (curl error \(curlCode))"
    }
}

extension HTTPClientError.Kind {
    init(_ code: CURLcode) {
        switch code {
        case CURLE_OPERATION_TIMEDOUT:
            self = .timeout
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            self = .connectionFailed
        case CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_PARTIAL_FILE, CURLE_GOT_NOTHING,
            CURLE_HTTP2, CURLE_HTTP2_STREAM:
            self = .connectionReset
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM,
            CURLE_SSL_CIPHER, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CRL_BADFILE, CURLE_SSL_ISSUER_ERROR,
            CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_INVALIDCERTSTATUS, CURLE_SSL_SHUTDOWN_FAILED,
            CURLE_SSL_CLIENTCERT, CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ENGINE_SETFAILED,
            CURLE_SSL_ENGINE_INITFAILED, CURLE_USE_SSL_FAILED:
            self = .tls
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL:
            self = .invalidURL
        case CURLE_ABORTED_BY_CALLBACK:
            self = .cancelled
        default:
            self = .other
        }
    }
}
