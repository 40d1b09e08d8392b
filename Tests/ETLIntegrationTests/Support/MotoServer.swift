import Foundation
import HTTPClient
import PartnerFilesConnector
import Testing

/// A real S3 API of a test's own: moto's server (PyPI `moto[server]`; `scripts/test` installs it)
/// on a free loopback port, in memory. It does not check signatures unless `requireSignatures()`
/// turns that on.
final class MotoServer {
    static let unavailableComment: Comment = "needs an S3 API server: python3 -m pip install 'moto[server]==5.2.1' (scripts/test installs it)"

    /// In CI the S3 tests always run, and fail without moto.
    static var isAvailable: Bool {
        ProcessInfo.processInfo.environment["CI"] != nil
            || (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/moto_server") }
    }

    /// `http://127.0.0.1:PORT`, for `AWS_S3_ENDPOINT_URL`.
    var endpoint: String { "http://127.0.0.1:\(port)" }
    var port: Int { server.port }
    private let server: LoopbackServer

    private init(server: LoopbackServer) {
        self.server = server
    }

    static func start(in directory: TemporaryDirectory) async throws -> MotoServer {
        MotoServer(server: try await LoopbackServer.start("moto_server (\(unavailableComment))", executable: "/usr/bin/env", in: directory) { port in
            ["moto_server", "-H", "127.0.0.1", "-p", String(port)]
        })
    }

    func stop() async {
        await server.stop()
    }

    /// A client of `bucket` with any credentials (moto takes any while it checks none).
    func client(bucket: String, accessKey: String = "test-access-key", secretKey: String = "test-secret-key",
                addressing: S3Configuration.Addressing = .path) -> S3Client {
        let endpoint = addressing == .path ? endpoint : "http://localhost:\(port)"  // bucket.localhost is 127.0.0.1 to libcurl
        return S3Client(configuration: S3Configuration(endpoint: endpoint, region: "us-east-1", bucket: bucket, accessKey: accessKey,
                                                       secretKey: secretKey, addressing: addressing))
    }

    func createBucket(_ name: String) async throws {
        let response = try await HTTPClient().execute(HTTPRequest(
            method: "PUT", url: "\(endpoint)/\(name)", headers: [(name: "x-amz-content-sha256", value: Self.emptySHA256)],
            awsSigning: AWSSigning(region: "us-east-1", service: "s3", accessKey: "setup", secretKey: "setup")))
        guard response.status == 200 else { throw TestFailure("cannot create bucket \(name): \(response.status) \(String(decoding: response.body, as: UTF8.self))") }
    }

    /// Makes an IAM user allowed `s3:*`, then has moto check every later request's signature
    /// against it. Returns the user's access key and secret.
    func requireSignatures() async throws -> (accessKey: String, secretKey: String) {
        func iam(_ form: String) async throws -> String {
            let response = try await HTTPClient().execute(HTTPRequest(
                method: "POST", url: "\(endpoint)/", headers: [(name: "Content-Type", value: "application/x-www-form-urlencoded")],
                body: Array((form + "&Version=2010-05-08").utf8),
                awsSigning: AWSSigning(region: "us-east-1", service: "iam", accessKey: "setup", secretKey: "setup")))
            let text = String(decoding: response.body, as: UTF8.self)
            guard response.status == 200 else { throw TestFailure("IAM \(form): \(response.status) \(text)") }
            return text
        }
        func element(_ name: String, in text: String) -> String? {
            guard let start = text.range(of: "<\(name)>"), let end = text.range(of: "</\(name)>", range: start.upperBound..<text.endIndex) else { return nil }
            return String(text[start.upperBound..<end.lowerBound])
        }
        _ = try await iam("Action=CreateUser&UserName=etl-test")
        let key = try await iam("Action=CreateAccessKey&UserName=etl-test")
        let policy = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#
        _ = try await iam("Action=PutUserPolicy&UserName=etl-test&PolicyName=s3-all&PolicyDocument=\(policy.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)")
        guard let accessKey = element("AccessKeyId", in: key), let secretKey = element("SecretAccessKey", in: key) else {
            throw TestFailure("CreateAccessKey answered no key: \(key)")
        }
        // moto's switch: from now on (0 more unchecked requests) every request must be signed.
        let reset = try await HTTPClient().execute(HTTPRequest(method: "POST", url: "\(endpoint)/moto-api/reset-auth",
                                                               headers: [(name: "Content-Type", value: "text/plain")], body: Array("0".utf8)))
        guard reset.status == 200 else { throw TestFailure("moto reset-auth: \(reset.status)") }
        return (accessKey, secretKey)
    }

    static let emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
}
