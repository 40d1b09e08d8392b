import ETLCore
import Foundation
import HTTPClient

/// Where a bucket is and who reads it. The variable names are those operators of the partner
/// importer know (`AWS_S3_*`); `S3Error` messages name them.
public struct S3Configuration: Sendable {
    public enum Addressing: String, Sendable {
        /// `https://endpoint/bucket/key`: MinIO, moto and most S3-compatible servers.
        case path
        /// `https://bucket.endpoint/key`: AWS (and DigitalOcean Spaces).
        case virtualHosted = "virtual"
    }

    /// `scheme://host[:port]` of the S3 API; nil for AWS itself, `https://s3.REGION.amazonaws.com`.
    public var endpoint: String?
    public var region: String
    public var bucket: String
    public var accessKey: String
    public var secretKey: String
    public var addressing: Addressing

    /// `addressing` defaults to virtual-hosted on AWS and path-style on a custom endpoint.
    public init(endpoint: String?, region: String, bucket: String, accessKey: String, secretKey: String, addressing: Addressing? = nil) {
        self.endpoint = endpoint
        self.region = region
        self.bucket = bucket
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.addressing = addressing ?? (endpoint == nil ? .virtualHosted : .path)
    }
}

/// An object as a listing shows it.
public struct S3Object: Sendable, Equatable {
    public var key: String
    /// Without the quotes S3 puts around it.
    public var eTag: String
    public var size: Int64
}

/// An S3 failure, with what to check. `code` is S3's own (`NoSuchBucket`, `SignatureDoesNotMatch`…).
public struct S3Error: Error, Sendable, CustomStringConvertible {
    public var code: String?
    public var status: Int?
    public var message: String
    /// Worth retrying: a 5xx, throttling, a connection that failed or timed out.
    public var isTransient: Bool

    public var description: String { message }
}

/// The S3 API over the project's HTTP client: libcurl signs each request (AWS Signature Version 4,
/// `CURLOPT_AWS_SIGV4`); every request carries `x-amz-content-sha256`, which S3 requires and
/// libcurl 7.88 does not add. Transient failures are retried with the shared `RetryPolicy`; S3's
/// XML errors become messages that say which setting to check.
///
/// Keys and query values are percent-encoded as AWS canonicalises them (everything but
/// `A-Z a-z 0-9 - . _ ~`, and `/` between a key's segments), and query parameters are sent
/// sorted: libcurl 7.88 signs the URL as it is written, so it must already be canonical.
public final class S3Client: Sendable {
    public let configuration: S3Configuration
    private let http: HTTPClient
    private let retry: RetryPolicy

    public init(configuration: S3Configuration, retry: RetryPolicy = RetryPolicy(giveUpAfter: .seconds(60)),
                http: HTTPClient = HTTPClient(configuration: .init(totalTimeout: .seconds(60)))) {
        self.configuration = configuration
        self.retry = retry
        self.http = http
    }

    /// One page of ListObjectsV2 under `prefix`, and the token of the next page (nil on the last).
    public func listPage(prefix: String, continuation: String? = nil, maxKeys: Int = 1000) async throws(S3Error) -> (objects: [S3Object], next: String?) {
        var query = [("list-type", "2"), ("max-keys", String(maxKeys)), ("prefix", prefix)]
        if let continuation { query.append(("continuation-token", continuation)) }
        let response = try await send("GET", key: nil, query: query, what: "list \(prefix.isEmpty ? "the bucket" : prefix)")
        let root: XMLTree.Element
        do { root = try XMLTree.parse(Data(response.body)) } catch {
            throw S3Error(code: nil, status: response.status, message: "S3 answered a listing that is \(error.message)", isTransient: true)
        }
        let objects = root.children(named: "Contents").compactMap { entry -> S3Object? in
            guard let key = entry.child("Key")?.text else { return nil }
            let eTag = entry.child("ETag")?.trimmedText.map(Self.unquoted) ?? ""
            return S3Object(key: key, eTag: eTag, size: Int64(entry.child("Size")?.trimmedText ?? "") ?? 0)
        }
        let truncated = root.child("IsTruncated")?.trimmedText == "true"
        return (objects, truncated ? root.child("NextContinuationToken")?.trimmedText : nil)
    }

    /// Every object under `prefix`, in key order.
    public func list(prefix: String) async throws(S3Error) -> [S3Object] {
        var objects: [S3Object] = []
        var continuation: String?
        repeat {
            let page = try await listPage(prefix: prefix, continuation: continuation)
            objects += page.objects
            continuation = page.next
        } while continuation != nil
        return objects
    }

    /// The object's bytes and ETag; nil when there is no such key.
    public func get(_ key: String) async throws(S3Error) -> (body: [UInt8], eTag: String)? {
        do {
            let response = try await send("GET", key: key, what: "read \(key)")
            return (response.body, response.header("etag").map(Self.unquoted) ?? "")
        } catch where error.code == "NoSuchKey" {
            return nil
        }
    }

    /// Writes the object whole (S3 makes a PUT visible all at once, never in part), with
    /// `metadata` as `x-amz-meta-*` headers; its ETag.
    @discardableResult
    public func put(_ key: String, body: [UInt8], contentType: String, metadata: [(name: String, value: String)] = []) async throws(S3Error) -> String {
        let headers = [("Content-Type", contentType)] + metadata.map { ("x-amz-meta-\($0.name)", $0.value) }
        let response = try await send("PUT", key: key, body: body, headers: headers, what: "write \(key)")
        return response.header("etag").map(Self.unquoted) ?? ""
    }

    /// The value of the object's metadata `name` (`x-amz-meta-NAME`), "" when it has none; nil
    /// when there is no such key.
    public func metadata(_ name: String, of key: String) async throws(S3Error) -> String? {
        do {
            let response = try await send("HEAD", key: key, what: "look up \(key)")
            return response.header("x-amz-meta-\(name)") ?? ""
        } catch where error.status == 404 {
            return nil
        }
    }

    /// Deletes the object; deleting a missing key is not an error (as in S3).
    public func delete(_ key: String) async throws(S3Error) {
        _ = try await send("DELETE", key: key, what: "delete \(key)")
    }

    // MARK: - Requests

    private func send(_ method: String, key: String?, query: [(String, String)] = [], body: [UInt8] = [],
                      headers: [(String, String)] = [], what: String) async throws(S3Error) -> HTTPResponse {
        let request = HTTPRequest(
            method: method, url: url(key: key, query: query),
            headers: headers.map { (name: $0.0, value: $0.1) } + [(name: "x-amz-content-sha256", value: SHA256.hex(body))],
            body: method == "PUT" ? body : nil,
            awsSigning: AWSSigning(region: configuration.region, service: "s3", accessKey: configuration.accessKey, secretKey: configuration.secretKey))
        do {
            return try await retry.run({ () async throws(S3Error) -> HTTPResponse in
                let response: HTTPResponse
                do { response = try await http.execute(request) } catch {
                    throw S3Error(code: nil, status: nil, message: "S3 at \(endpointDescription): \(error); check AWS_S3_ENDPOINT_URL",
                                  isTransient: (error as? HTTPClientError)?.isRetryable ?? false)
                }
                guard (200..<300).contains(response.status) else { throw failure(response, what: what) }
                return response
            }, retryingWhen: { ($0 as? S3Error)?.isTransient == true ? .retry : .fail },
            exhausted: { error, attempts, elapsed in
                guard var error = error as? S3Error else { return error }
                error.message += " (gave up after \(attempts) attempts in \(elapsed.components.seconds) s)"
                return error
            })
        } catch let error as S3Error {
            throw error
        } catch {
            throw S3Error(code: nil, status: nil, message: "S3 \(what): stopped (\(error))", isTransient: false)
        }
    }

    /// What went wrong, from S3's XML error (HEAD answers have none) and the status.
    private func failure(_ response: HTTPResponse, what: String) -> S3Error {
        let error = try? XMLTree.parse(Data(response.body))
        let code = error?.child("Code")?.trimmedText
        let said = error?.child("Message")?.trimmedText.map { ": \($0)" } ?? ""
        let bucket = configuration.bucket
        let advice: String
        switch code {
        case "SignatureDoesNotMatch": advice = "the signature does not match: check AWS_S3_SECRET_KEY (and AWS_S3_REGION_NAME)"
        case "InvalidAccessKeyId": advice = "the access key is unknown: check AWS_S3_ACCESS_KEY"
        case "AccessDenied", "AllAccessDisabled": advice = "access denied: give the key's user s3:ListBucket, s3:GetObject, s3:PutObject and s3:DeleteObject on bucket \(bucket)"
        case "NoSuchBucket": advice = "there is no bucket \(bucket): check AWS_S3_BUCKET_NAME (and AWS_S3_ENDPOINT_URL)"
        case "AuthorizationHeaderMalformed", "PermanentRedirect": advice = "the bucket is in another region: check AWS_S3_REGION_NAME"
        default: advice = "S3 answered \(response.status)\(code.map { " \($0)" } ?? "")\(said)"
        }
        let transient = response.status >= 500 || response.status == 429
            || ["SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError", "ServiceUnavailable"].contains(code ?? "")
        return S3Error(code: code, status: response.status, message: "S3 \(what) in bucket \(bucket) at \(endpointDescription): \(advice)", isTransient: transient)
    }

    private var endpointDescription: String { configuration.endpoint ?? "AWS (\(configuration.region))" }

    func url(key: String?, query: [(String, String)]) -> String {
        let endpoint = configuration.endpoint ?? "https://s3.\(configuration.region).amazonaws.com"
        let base: String
        switch configuration.addressing {
        case .path:
            base = "\(endpoint)/\(Self.encode(configuration.bucket, keepingSlashes: false))"
        case .virtualHosted:
            let parts = endpoint.split(separator: "://", maxSplits: 1)
            base = parts.count == 2 ? "\(parts[0])://\(configuration.bucket).\(parts[1])" : "https://\(configuration.bucket).\(endpoint)"
        }
        var url = base + "/" + (key.map { Self.encode($0, keepingSlashes: true) } ?? "")
        if !query.isEmpty {
            url += "?" + query.sorted { $0.0 < $1.0 }.map { "\(Self.encode($0.0, keepingSlashes: false))=\(Self.encode($0.1, keepingSlashes: false))" }
                .joined(separator: "&")
        }
        return url
    }

    /// Percent-encoding as AWS canonicalises: every byte but the unreserved ones, upper-case hex.
    static func encode(_ text: String, keepingSlashes: Bool) -> String {
        var encoded = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "/") where keepingSlashes:
                encoded.append("/")
            default:
                encoded += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return encoded
    }

    /// An ETag without the quotes S3 puts around it.
    static func unquoted(_ eTag: String) -> String {
        eTag.count >= 2 && eTag.hasPrefix("\"") && eTag.hasSuffix("\"") ? String(eTag.dropFirst().dropLast()) : eTag
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
