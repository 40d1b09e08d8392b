import ETLCore
import Foundation
import HTTPClient
import PartnerFilesConnector
import Testing

/// `pipelines/partner-products.json` against a real S3 API (moto): each file handled once, its
/// output the transform of its input, failures listed, a changed file handled again, a crash
/// resumed without a lost or repeated file, and a wrong secret named without being shown.
@Suite(.enabled(if: MotoServer.isAvailable, MotoServer.unavailableComment))
struct PartnerFilesTests {
    static let pipeline = Subprocess.packageRoot.appendingPathComponent("pipelines/partner-products.json").path

    /// Partner XML with `items` items; every seventh file has no valid item, so it fails.
    static func partnerFile(_ number: Int, items: Int = 5) -> String {
        if number % 7 == 0 { return "<nsx:items><nsx:item id=\"\(number)\"><nsx:category>x</nsx:category></nsx:item></nsx:items>" }
        let body = (1...items).map { item in
            """
            <nsx:item id="\(number)-\(item)"><nsx:category>Jeans</nsx:category><nsx:description>Item \(item), "quoted" &amp; more</nsx:description>
            <nsx:images><nsx:image type="\(item % 3 + 1)" url="https://cdn.example.com/\(number)/\(item).jpg"/></nsx:images>
            <nsx:prices><nsx:price><nsx:currency>EUR</nsx:currency><nsx:value>\(item).\(number % 100)</nsx:value></nsx:price></nsx:prices></nsx:item>
            """
        }.joined()
        return "<nsx:items>\(body)</nsx:items>"
    }

    func environment(_ moto: MotoServer, secret: String = "test-secret-key") -> [String: String] {
        ["AWS_S3_ENDPOINT_URL": moto.endpoint, "AWS_S3_ACCESS_KEY": "test-access-key", "AWS_S3_SECRET_KEY": secret,
         "AWS_S3_BUCKET_NAME": "partners", "AWS_S3_IMPORT_PATH": "in/", "AWS_S3_OUTPUT_PATH": "out/", "ETL_STATE_PATH": "state.sqlite"]
    }

    /// Every input under `in/` has exactly its transform under `out/` (same relative name, `.json`),
    /// or none when it fails; nothing else is under `out/`.
    func expectOutputsMatchInputs(_ s3: S3Client) async throws -> (done: Int, failed: Int) {
        var expected: [String: JSONValue] = [:]
        var failed = 0
        for object in try await s3.list(prefix: "in/") where object.key.hasSuffix(".xml") {
            let input = try #require(try await s3.get(object.key))
            if let conversion = try? PartnerXML.convert(Data(input.body)) {
                expected["out/" + object.key.dropFirst(3).replacingOccurrences(of: ".xml", with: ".json")] = .array(conversion.products)
            } else {
                failed += 1
            }
        }
        let outputs = try await s3.list(prefix: "out/")
        #expect(Set(outputs.map(\.key)) == Set(expected.keys))
        for output in outputs {
            let body = try #require(try await s3.get(output.key)).body
            #expect(try JSONParser.parse(body) == expected[output.key], "\(output.key)")
        }
        return (expected.count, failed)
    }

    @Test func eachFileIsHandledOnceAndAChangedFileAgain() async throws {
        let directory = try TemporaryDirectory()
        let moto = try await MotoServer.start(in: directory)
        try await moto.createBucket("partners")
        let s3 = moto.client(bucket: "partners")
        for number in 1...40 {
            try await s3.put("in/\(number % 3 == 0 ? "sub/" : "")\(number).xml", body: Array(Self.partnerFile(number).utf8), contentType: "application/xml")
        }
        try await s3.put("in/readme.txt", body: Array("not a partner file".utf8), contentType: "text/plain")
        let env = environment(moto)

        let first = try await Subprocess.run(["run", Self.pipeline], in: directory.url, environment: env)
        #expect(first.status == 0, "\(first.output)")
        #expect(first.output.contains("40 records read"), "\(first.output)")
        let counts = try await expectOutputsMatchInputs(s3)
        #expect(counts == (35, 5))
        let status = try await Subprocess.run(["status", "partner-products"], in: directory.url, environment: env)
        #expect(status.output.contains("files 35 done, 5 failed, 0 pending"), "\(status.output)")
        #expect(status.output.contains("failed s3://partners/in/7.xml: no valid item: item 1 (id 7): no description"), "\(status.output)")

        let again = try await Subprocess.run(["run", Self.pipeline], in: directory.url, environment: env)
        #expect(again.status == 0 && again.output.contains("0 records read"), "\(again.output)")

        // A changed file (new ETag) is handled again; a failed one only after `etl retry`.
        try await s3.put("in/1.xml", body: Array(Self.partnerFile(1, items: 2).utf8), contentType: "application/xml")
        let retry = try await Subprocess.run(["retry", Self.pipeline, "in/14.xml"], in: directory.url, environment: env)
        #expect(retry.status == 0 && retry.output.contains("will retry s3://partners/in/14.xml"), "\(retry.output)")
        let changed = try await Subprocess.run(["run", Self.pipeline], in: directory.url, environment: env)
        #expect(changed.status == 0 && changed.output.contains("2 records read"), "\(changed.output)")
        _ = try await expectOutputsMatchInputs(s3)
        let notFailed = try await Subprocess.run(["retry", Self.pipeline, "in/1.xml"], in: directory.url, environment: env)
        #expect(notFailed.status == 4 && notFailed.output.contains("no failed file in/1.xml"), "\(notFailed.output)")
        await moto.stop()
    }

    @Test(arguments: ["after-extract:2", "after-load:2", "after-checkpoint:2", "after-load:1"])
    func aRunKilledAtAFailpointResumesWithoutALostOrRepeatedFile(failpoint: String) async throws {
        let directory = try TemporaryDirectory()
        let moto = try await MotoServer.start(in: directory)
        try await moto.createBucket("partners")
        let s3 = moto.client(bucket: "partners")
        for number in 1...50 {
            try await s3.put("in/\(number).xml", body: Array(Self.partnerFile(number).utf8), contentType: "application/xml")
        }
        var env = environment(moto)
        env["ETL_FAILPOINT"] = failpoint
        let killed = try await Subprocess.run(["run", Self.pipeline], in: directory.url, environment: env)
        #expect(killed.signal == SIGKILL, "\(killed.output)")
        env["ETL_FAILPOINT"] = nil
        let resumed = try await Subprocess.run(["resume", Self.pipeline], in: directory.url, environment: env)
        #expect(resumed.status == 0, "\(resumed.output)")
        let counts = try await expectOutputsMatchInputs(s3)
        #expect(counts == (43, 7))
        let status = try await Subprocess.run(["status", "partner-products"], in: directory.url, environment: env)
        #expect(status.output.contains("files 43 done, 7 failed, 0 pending"), "\(status.output)")
        let again = try await Subprocess.run(["run", Self.pipeline], in: directory.url, environment: env)
        #expect(again.status == 0 && again.output.contains("0 records read"), "\(again.output)")
        await moto.stop()
    }

    @Test func filesAnnouncedByEventsAreHandledOnceWithoutPolling() async throws {
        let directory = try TemporaryDirectory()
        let moto = try await MotoServer.start(in: directory)
        try await moto.createBucket("partners")
        let s3 = moto.client(bucket: "partners")
        var eTags: [Int: String] = [:]
        for number in 1...10 {
            eTags[number] = try await s3.put("in/\(number).xml", body: Array(Self.partnerFile(number).utf8), contentType: "application/xml")
        }
        var env = environment(moto)
        env["ENABLE_AWS_S3_POLLING"] = "false"
        env["ETL_INGEST_TOKEN"] = "event-token"
        let server = try await ServeProcess.start([Self.pipeline], in: directory.url, environment: env)
        let http = HTTPClient()
        func notify(_ body: String, token: String? = "event-token") async throws -> HTTPResponse {
            try await http.execute(HTTPRequest(method: "PUT", url: server.url + "/api/v1/s3/event",
                                               headers: [(name: "Content-Type", value: "application/json")] + (token.map { [(name: "Authorization", value: "Bearer \($0)")] } ?? []),
                                               body: Array(body.utf8)))
        }
        func record(_ key: String, bucket: String = "partners", eTag: String? = nil) -> String {
            #"{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "\#(bucket)"}, "object": {"key": "\#(key)", "eTag": "\#(eTag ?? "")", "size": 10}}}"#
        }
        let announced = (1...6).map { record("in/\($0).xml", eTag: eTags[$0]) } + [record("in/3.xml", eTag: eTags[3]), record("elsewhere/9.xml"), record("in/8.xml", bucket: "other")]
        #expect(try await notify(#"{"Records": [\#(announced.joined(separator: ","))]}"#, token: nil).status == 401)
        #expect(try await notify(#"{"Records": [{"eventName": "ObjectCreated:Put"}]}"#).status == 400)
        let accepted = try await notify(#"{"Records": [\#(announced.joined(separator: ","))]}"#)
        #expect(accepted.status == 202, "\(String(decoding: accepted.body, as: UTF8.self))")
        let answer = try JSONParser.parse(accepted.body)
        #expect(answer[path: FieldPath("status")!] == .string("accepted") && answer[path: FieldPath("announced")!] == .int(7))
        // Announced again after it was handled: nothing more to do.
        var done: JSONValue?
        for _ in 0..<100 {
            done = try await server.status(of: "partner-products")?["files"]
            if done?[path: FieldPath("done")!] == .int(6) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(done?[path: FieldPath("done")!] == .int(6) && done?[path: FieldPath("pending")!] == .int(0), "\(String(describing: done))")
        #expect(try await notify(#"{"Records": [\#(record("in/2.xml", eTag: eTags[2]))]}"#).status == 202)
        try await Task.sleep(for: .milliseconds(800))
        #expect(try await server.status(of: "partner-products")?["files"]?[path: FieldPath("done")!] == .int(6))
        let outputs = try await s3.list(prefix: "out/").map(\.key)
        #expect(outputs == (1...6).map { "out/\($0).json" }.sorted())
        let stopped = await server.stop()
        #expect(!stopped.output.contains("event-token"))
        await moto.stop()
    }

    @Test func aWrongSecretKeyFailsFastNamingTheVariableWithoutShowingIt() async throws {
        let directory = try TemporaryDirectory()
        let moto = try await MotoServer.start(in: directory)
        try await moto.createBucket("partners")
        let user = try await moto.requireSignatures()
        var env = environment(moto, secret: "wrong-\(user.secretKey.prefix(8))-secret")
        env["AWS_S3_ACCESS_KEY"] = user.accessKey
        env["AWS_S3_IMPORT_PATH"] = "in"
        let started = ContinuousClock.now
        let run = try await Subprocess.run(["run", Self.pipeline], in: directory.url, environment: env)
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(run.status == 1, "\(run.output)")
        #expect(run.output.contains("check AWS_S3_SECRET_KEY"), "\(run.output)")
        #expect(!run.output.contains(env["AWS_S3_SECRET_KEY"]!), "\(run.output)")
        let status = try await Subprocess.run(["status", "--json"], in: directory.url, environment: env)
        #expect(status.output.contains("AWS_S3_SECRET_KEY") && !status.output.contains(env["AWS_S3_SECRET_KEY"]!), "\(status.output)")
        await moto.stop()
    }
}
