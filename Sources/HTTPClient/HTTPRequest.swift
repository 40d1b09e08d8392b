/// One HTTP request.
///
/// Header names must be HTTP tokens and values must not contain CR, LF or NUL; `HTTPClient.execute`
/// rejects anything else with `.invalidRequest` rather than let it inject header lines.
public struct HTTPRequest: Sendable {
    public var method: String
    /// An absolute `http://` or `https://` URL.
    public var url: String
    /// Sent in order; a name given twice is sent twice. An empty value sends `Name:` with no value.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]?
    /// Send the body gzip-compressed, with `Content-Encoding: gzip`.
    public var compressBody: Bool
    /// Overrides `HTTPClient.Configuration.totalTimeout` for this request.
    public var timeout: Duration?
    /// Called on the transfer's thread as soon as the request has been sent, before its answer is
    /// waited for (once per `execute`; not when it could not be sent): for work that should start
    /// only once the request is on its way, so that it cannot hold up the sending.
    public var onSent: (@Sendable () -> Void)?
    /// Sign the request with AWS Signature Version 4 (libcurl's `CURLOPT_AWS_SIGV4`).
    public var awsSigning: AWSSigning?

    public init(
        method: String = "GET",
        url: String,
        headers: [(name: String, value: String)] = [],
        body: [UInt8]? = nil,
        compressBody: Bool = false,
        timeout: Duration? = nil,
        awsSigning: AWSSigning? = nil
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.compressBody = compressBody
        self.timeout = timeout
        self.awsSigning = awsSigning
    }
}

/// The credentials and scope of an AWS Signature Version 4: libcurl computes the signature, the
/// `X-Amz-Date` header and the `Authorization` header. Its description never shows the secret.
public struct AWSSigning: Sendable, CustomStringConvertible {
    public var region: String
    /// `s3`, for S3 and the services that speak its API.
    public var service: String
    public var accessKey: String
    public var secretKey: String

    public init(region: String, service: String, accessKey: String, secretKey: String) {
        self.region = region
        self.service = service
        self.accessKey = accessKey
        self.secretKey = secretKey
    }

    /// libcurl's `provider1[:provider2[:region[:service]]]`.
    var provider: String { "aws:amz:\(region):\(service)" }

    public var description: String { "AWS SigV4 (\(service), \(region), key \(accessKey))" }
}
