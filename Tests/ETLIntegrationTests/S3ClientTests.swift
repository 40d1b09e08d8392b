import ETLCore
import Foundation
import PartnerFilesConnector
import Testing

/// The S3 client against a real S3 API (moto's server): every operation, both addressing styles,
/// pagination, awkward keys, and the errors a misconfigured operator sees.
@Suite(.enabled(if: MotoServer.isAvailable, MotoServer.unavailableComment))
struct S3ClientTests {
    @Test(arguments: [S3Configuration.Addressing.path, .virtualHosted])
    func objectsArePutListedReadAndDeleted(_ addressing: S3Configuration.Addressing) async throws {
        let directory = try TemporaryDirectory()
        let moto = try await MotoServer.start(in: directory)
        try await moto.createBucket("partner-files")
        let s3 = moto.client(bucket: "partner-files", addressing: addressing)
        // Keys as partners name files: spaces, a plus, unicode, nested folders.
        let keys = ["incoming/a.xml", "incoming/b c+d.xml", "incoming/sub/é ü.xml"] + (1...6).map { "incoming/many/\($0).xml" }
        var eTags: [String: String] = [:]
        for (index, key) in keys.enumerated() {
            eTags[key] = try await s3.put(key, body: Array("<nsx:items index=\"\(index)\"/>".utf8), contentType: "application/xml")
        }
        try await s3.put("elsewhere/x.xml", body: Array("x".utf8), contentType: "application/xml")

        let listed = try await s3.list(prefix: "incoming/")
        #expect(listed.map(\.key) == keys.sorted())
        #expect(listed.allSatisfy { $0.size > 0 && !$0.eTag.isEmpty && $0.eTag == eTags[$0.key] && !$0.eTag.hasPrefix("\"") })
        #expect(Set(eTags.values).count == keys.count)
        // Pages of 4: three pages, continued by token.
        var pages = 0
        var paged: [String] = []
        var token: String?
        repeat {
            let page = try await s3.listPage(prefix: "incoming/", continuation: token, maxKeys: 4)
            paged += page.objects.map(\.key)
            token = page.next
            pages += 1
        } while token != nil
        #expect(pages == 3 && paged == keys.sorted())

        let read = try #require(try await s3.get("incoming/b c+d.xml"))
        #expect(String(decoding: read.body, as: UTF8.self) == "<nsx:items index=\"1\"/>")
        #expect(read.eTag == listed.first { $0.key == "incoming/b c+d.xml" }?.eTag)
        #expect(try await s3.get("incoming/missing.xml") == nil)

        try await s3.delete("incoming/b c+d.xml")
        try await s3.delete("incoming/b c+d.xml")  // deleting a missing key is no error
        #expect(try await s3.get("incoming/b c+d.xml") == nil)
        #expect(try await s3.list(prefix: "incoming/").count == keys.count - 1)
        await moto.stop()
    }

    @Test func aMissingBucketOrServerSaysWhichSettingToCheck() async throws {
        let directory = try TemporaryDirectory()
        let moto = try await MotoServer.start(in: directory)
        await #expect(performing: { try await moto.client(bucket: "no-such-bucket").list(prefix: "") }, throws: { error in
            "\(error)".contains("there is no bucket no-such-bucket: check AWS_S3_BUCKET_NAME")
        })
        await moto.stop()
        let dead = S3Client(configuration: S3Configuration(endpoint: moto.endpoint, region: "us-east-1", bucket: "b", accessKey: "k", secretKey: "s"),
                            retry: RetryPolicy(initialDelay: .milliseconds(50), giveUpAfter: .milliseconds(300)))
        await #expect(performing: { try await dead.list(prefix: "") }, throws: { error in
            let text = "\(error)"
            return text.contains("check AWS_S3_ENDPOINT_URL") && text.contains("gave up after")
        })
    }

    @Test func aWrongSecretFailsAtOnceNamingTheSettingAndNeverShowingTheKey() async throws {
        let directory = try TemporaryDirectory()
        let moto = try await MotoServer.start(in: directory)
        try await moto.createBucket("signed")
        let credentials = try await moto.requireSignatures()
        // moto rebuilds the signature from a partly decoded URL, so only keys and prefixes without
        // characters that AWS encodes (such as / in a query value) verify there; see the notes.
        let good = moto.client(bucket: "signed", accessKey: credentials.accessKey, secretKey: credentials.secretKey)
        try await good.put("in/file.xml", body: Array("<nsx:items/>".utf8), contentType: "application/xml")
        #expect(try await good.get("in/file.xml")?.body == Array("<nsx:items/>".utf8))
        #expect(try await good.list(prefix: "in").map(\.key) == ["in/file.xml"])

        let secret = "wrong-secret-\(UUID().uuidString)"
        let started = ContinuousClock.now
        await #expect(performing: { try await moto.client(bucket: "signed", accessKey: credentials.accessKey, secretKey: secret).list(prefix: "in") },
                      throws: { error in
            let text = "\(error)"
            return text.contains("check AWS_S3_SECRET_KEY") && !text.contains(secret) && !text.contains(credentials.secretKey)
        })
        #expect(ContinuousClock.now - started < .seconds(5))
        await #expect(performing: { try await moto.client(bucket: "signed", accessKey: "AKIAUNKNOWN0000000000", secretKey: secret).get("in/file.xml") },
                      throws: { "\($0)".contains("check AWS_S3_ACCESS_KEY") })
        await moto.stop()
    }
}
