import ETLCore
import Foundation
import HTTPClient
import ShopifyStandInKit
import Testing

/// `etl serve` as users run it: the real binary on a free port, a real ClickHouse, the Shopify
/// stand-in, and `etl run` in another process.
@Suite(.serialized, .enabled(if: ClickHouseHarness.isAvailable, ClickHouseHarness.unavailableComment), SharedClickHouse())
struct ServerTests {
    static let pipeline = ClickHouseLoadTests.shopifyPipeline
    static let name = "shopify-top-products"

    /// The report's rows must be the shop's own top products, titles byte for byte.
    func expectTopProducts(_ server: ServeProcess, count: Int?, shop: Shop, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let (status, value) = try await server.json("/top-products" + (count.map { "?count=\($0)" } ?? ""))
        #expect(status == 200, sourceLocation: sourceLocation)
        let expected = shop.topProducts(count: count ?? 10)
        guard case .array(let items) = value else {
            Issue.record("not an array: \(value)", sourceLocation: sourceLocation)
            return
        }
        #expect(items.count == expected.count, "count=\(count.map(String.init) ?? "default")", sourceLocation: sourceLocation)
        for (item, product) in zip(items, expected) {
            guard case .object(let object) = item, case .string(let title)? = object["title"] else {
                Issue.record("unexpected item \(item)", sourceLocation: sourceLocation)
                return
            }
            #expect(object.keys == ["title", "rank", "cnt_bought"], sourceLocation: sourceLocation)
            #expect(title.utf8.elementsEqual(product.title.utf8), "title bytes differ at rank \(product.rank): \(title.debugDescription) vs \(product.title.debugDescription)", sourceLocation: sourceLocation)
            #expect(object["rank"] == .int(Int64(product.rank)), sourceLocation: sourceLocation)
            #expect(object["cnt_bought"] == .int(Int64(product.cntBought)), sourceLocation: sourceLocation)
        }
    }

    /// HTML text as the page must show a title (in its tooltip): markup characters escaped, control
    /// characters as visible escapes (`\n`, `\0`), never raw.
    static func htmlEscaped(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            case "\n": result += #"\n"#
            case "\t": result += #"\t"#
            case "\r": result += #"\r"#
            case "\0": result += #"\0"#
            case "\u{1}"..."\u{1F}", "\u{7F}"..."\u{9F}": result += #"\u{"# + String(scalar.value, radix: 16, uppercase: true) + "}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    @Test func reportsAnswer503UntilARunCompletesThen200WithoutARestart() async throws {
        let directory = try TemporaryDirectory()
        let standIn = try await StandInProcess.start(orders: 12_000, options: ["--no-rate-limit"], in: directory.url)
        let environment = standIn.environment.merging(try await SharedClickHouse.freshDatabase()) { $1 }
        let server = try await ServeProcess.start([Self.pipeline, "--state", "s.sqlite"], in: directory.url, environment: environment)

        // Until its first check of the sink (within a second) the server says it is starting.
        var before = try await server.get("/top-products")
        for _ in 0..<100 where String(decoding: before.body, as: UTF8.self).contains("is starting") {
            try await Task.sleep(for: .milliseconds(20))
            before = try await server.get("/top-products")
        }
        #expect(before.status == 503)
        #expect(before.header("Retry-After") == "2")
        #expect(before.header("Content-Type") == "application/json; charset=utf-8")
        let reason = try JSONParser.parse(before.body)
        #expect(reason["error"] == .string("no completed load of pipeline \(Self.name) yet"), "\(reason)")
        #expect(reason["state"] == .string("never_run"))
        #expect(try await server.get("/healthz").status == 200)
        let neverRun = try #require(try await server.status(of: Self.name))
        #expect(neverRun["state"] == .string("never_run"))
        #expect(neverRun["run"] == .null && neverRun["last_load"] == .null)

        let run = try await Subprocess.run(["run", Self.pipeline, "--state", "s.sqlite"], in: directory.url, environment: environment)
        #expect(run.status == 0, "\(run.output)")
        let completed = ContinuousClock.now
        let ready = try await server.waitFor("/top-products", status: 200, within: .seconds(2))
        #expect(ready != nil, "still not 200 two seconds after the run completed")
        print("503 turned into 200 \(ContinuousClock.now - completed) after the run completed")

        for count in [nil, 1, 5, 10, 50, 1000] {
            try await expectTopProducts(server, count: count, shop: standIn.shop)
        }

        let status = try #require(try await server.status(of: Self.name))
        #expect(status["state"] == .string("completed"))
        #expect(status["run"]?["run_id"] == .int(1))
        #expect(status["run"]?["batches"] == .int(2))  // 48 pages of 250, 40 pages per batch
        #expect(status["run"]?["records"] == .int(12_000))
        let rows = try #require(status["run"]?["rows"])
        #expect(status["last_load"]?["run_id"] == .int(1))
        #expect(status["last_load"]?["rows"] == rows)
        #expect(status["last_error"] == .null && status["sink_error"] == .null)

        let metrics = String(decoding: try await server.get("/metrics").body, as: UTF8.self)
        #expect(metrics.contains(#"etl_http_requests_total{route="/top-products",status="503"} "#), "\(metrics)")
        #expect(metrics.contains(#"etl_http_requests_total{route="/top-products",status="200"} "#))
        #expect(metrics.contains(#"etl_http_request_duration_seconds_count{route="/top-products"} "#))
        #expect(metrics.contains(#"etl_runs{pipeline="shopify-top-products",state="completed"} 1.0\#n"#))
        #expect(metrics.contains(#"etl_latest_run_batches{pipeline="shopify-top-products"} 2.0\#n"#))
        #expect(metrics.contains(#"etl_report_ready{pipeline="shopify-top-products",report="top-products"} 1.0\#n"#))
        if case .int(let loaded) = rows { #expect(metrics.contains(#"etl_last_load_rows{pipeline="shopify-top-products"} \#(loaded).0\#n"#)) }
        #expect(metrics.contains(#"etl_last_load_timestamp_seconds{pipeline="shopify-top-products"} "#))

        let page = try await server.get("/")
        #expect(page.status == 200)
        #expect(page.header("Content-Type") == "text/html; charset=utf-8")
        let html = String(decoding: page.body, as: UTF8.self)
        #expect(html.contains("<svg"))
        for product in standIn.shop.topProducts(count: 10) {
            #expect(html.contains(Self.htmlEscaped(product.title)), "title \(product.title.debugDescription) missing or not escaped")
        }
        #expect(!page.body.contains(0), "a NUL byte in the page")
        #expect(!html.contains("\"Original\""), "a raw quote from a title")
        #expect(!html.contains("http://") && !html.contains("https://"), "an external reference")
        #expect(!html.contains("http-equiv=\"refresh\""), "refreshing although no run is going")

        let stopped = await server.stop()
        #expect(stopped.status == 0, "\(stopped.output)")
        #expect(stopped.stderr.contains("GET /top-products 200"), "no access log")
        #expect(!stopped.stderr.contains("count="), "a query string in the access log")
    }

    @Test func aBadCountIsA400WithAJSONError() async throws {
        let directory = try TemporaryDirectory()
        let environment = try await SharedClickHouse.freshDatabase().merging(["SHOPIFY_SHOP_URL": "http://127.0.0.1:9", "SHOPIFY_ACCESS_TOKEN": "unused-token"]) { $1 }
        let server = try await ServeProcess.start([Self.pipeline, "--state", "s.sqlite"], in: directory.url, environment: environment)
        let bad = ["count=", "count", "count=abc", "count=0", "count=-1", "count=1.5", "count=1001", "count=+5", "count=%2B5", "count=%205",
                   "count=5%20", "count=05", "count=1e3", "count=0x10", "count=99999999999999999999", "count=5&count=5", "count=5&count=6", "count=%ZZ"]
        for query in bad {
            let response = try await server.get("/top-products?" + query)
            #expect(response.status == 400, "\(query)")
            #expect(response.header("Content-Type") == "application/json; charset=utf-8")
            let body = try JSONParser.parse(response.body)
            #expect(body["error"] == .string("count must be an integer from 1 to 1000, given at most once (digits only, no sign or leading zero)"), "\(query): \(body)")
            #expect(body["parameter"] == .string("count") && body["minimum"] == .int(1) && body["maximum"] == .int(1000))
        }
        // Good counts and unknown parameters are not a 400 (here a 503: nothing loaded yet).
        for query in ["count=1", "count=1000", "count=7&utm_source=x", "other=abc", ""] {
            #expect(try await server.get("/top-products?" + query).status == 503, "\(query)")
        }
        #expect(try await server.get("/nowhere").status == 404)
    }

    @Test func aClickHouseOutageIsA503UntilItIsBack() async throws {
        let clickHouse = try await ClickHouseHarness.start(privateServer: true)
        let directory = try TemporaryDirectory()
        let standIn = try await StandInProcess.start(orders: 2_000, options: ["--no-rate-limit"], in: directory.url)
        let environment = standIn.environment.merging(clickHouse.environment) { $1 }
        let run = try await Subprocess.run(["run", Self.pipeline, "--state", "s.sqlite"], in: directory.url, environment: environment)
        #expect(run.status == 0, "\(run.output)")
        let server = try await ServeProcess.start([Self.pipeline, "--state", "s.sqlite"], in: directory.url, environment: environment)
        #expect(try await server.waitFor("/top-products", status: 200, within: .seconds(3)) != nil)

        try await clickHouse.kill()
        let outage = try #require(try await server.waitFor("/top-products", status: 503, within: .seconds(3)), "still 200 with ClickHouse down")
        let reason = try JSONParser.parse(outage.body)
        guard case .string(let message)? = reason["error"] else { throw TestFailure("no error in \(reason)") }
        #expect(message.contains("cannot be read") && message.contains("is unreachable"), "\(message)")
        let password = clickHouse.environment["CLICKHOUSE_PASSWORD"] ?? ""
        #expect(password.isEmpty || !message.contains(password))
        #expect(outage.header("Retry-After") == "2")
        #expect(try await server.get("/top-products?count=abc").status == 400)
        #expect(try await server.get("/healthz").status == 200)
        let status = try #require(try await server.status(of: Self.name))
        #expect(status["sink_error"] != .null)

        try await clickHouse.restart()
        #expect(try await server.waitFor("/top-products", status: 200, within: .seconds(5)) != nil, "not 200 again after ClickHouse came back")
        try await expectTopProducts(server, count: 50, shop: standIn.shop)
        #expect(try #require(try await server.status(of: Self.name))["sink_error"] == .null)
    }

    @Test func serveRunRunsThePipelineStopsAtABatchOnSIGTERMAndResumesNextTime() async throws {
        let database = try await SharedClickHouse.freshDatabase()
        let directory = try TemporaryDirectory()
        try directory.write("p.json", try ClickHouseLoadTests.shopifyPipeline(pageSize: 25))
        // 121 requests at 10 a second after a burst of 10: a run of about 11 s, interrupted early.
        let slowShop = try await StandInProcess.start(orders: 3_000, options: ["--bucket-size", "10", "--leak-rate", "10"], in: directory.url)
        let server = try await ServeProcess.start(["--run", "p.json", "--state", "s.sqlite"], in: directory.url,
                                                  environment: slowShop.environment.merging(database) { $1 })
        #expect(try await server.get("/healthz").status == 200)
        var batches: Int64 = 0
        for _ in 0..<200 where batches < 15 {
            if case .int(let count)? = try await server.status(of: "shopify-top-products")?["run"]?["batches"] { batches = count }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(batches >= 15, "the run did not get going")
        let during = try await server.json("/top-products")
        #expect(during.status == 503 && during.value["state"] == .string("running"), "\(during)")
        #expect(String(decoding: try await server.get("/").body, as: UTF8.self).contains("http-equiv=\"refresh\" content=\"2\""))

        let stopped = await server.stop()
        #expect(stopped.status == 0, "\(stopped.output)")
        #expect(stopped.stderr.contains("checkpoint written"), "\(stopped.stderr)")
        let runs = try await RunStatus.statusJSON(state: "s.sqlite", in: directory)
        #expect(runs.first?["state"] as? String == "interrupted", "\(runs)")
        let interruptedAt = runs.first?["batches"] as? Int ?? 0
        #expect(interruptedAt > 0 && interruptedAt < 120)

        // The same shop, now without a rate limit: the next start-up resumes run 1 and completes it.
        let fastShop = try await StandInProcess.start(orders: 3_000, options: ["--no-rate-limit"], in: directory.url)
        let resumed = try await ServeProcess.start(["--run", "p.json", "--state", "s.sqlite"], in: directory.url,
                                                   environment: fastShop.environment.merging(database) { $1 })
        #expect(try await resumed.waitFor("/top-products", status: 200, within: .seconds(15)) != nil)
        try await expectTopProducts(resumed, count: 1000, shop: fastShop.shop)
        // Reports are served from the swap on; the checkpoint marks the run completed just after it.
        var status = try #require(try await resumed.status(of: Self.name))
        for _ in 0..<100 where status["state"] != .string("completed") {
            try await Task.sleep(for: .milliseconds(50))
            status = try #require(try await resumed.status(of: Self.name))
        }
        #expect(status["run"]?["run_id"] == .int(1) && status["state"] == .string("completed"), "\(status)")
        let result = await resumed.stop()
        #expect(result.stderr.contains("resuming run 1"), "\(result.stderr)")
    }

    @Test func invalidPipelineFilesAreShownAndServedAroundUnlessNamed() async throws {
        let directory = try TemporaryDirectory()
        let environment = try await SharedClickHouse.freshDatabase().merging(["SHOPIFY_SHOP_URL": "http://127.0.0.1:9", "SHOPIFY_ACCESS_TOKEN": "secret-token-value"]) { $1 }
        let shopify = try String(contentsOfFile: Self.pipeline, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: directory.path("pipelines"), withIntermediateDirectories: true)
        try directory.write("pipelines/a-shopify.json", shopify)
        try directory.write("pipelines/b-broken.json", shopify.replacingOccurrences(of: "\"page_size\": 250", with: "\"page_size\": \"many\""))
        try directory.write("pipelines/c-copy.json", shopify.replacingOccurrences(of: "\"name\": \"shopify-top-products\"", with: "\"name\": \"shopify-copy\""))

        // Named on the command line, an invalid file stops the server from starting.
        let refused = try await Subprocess.run(["serve", "--port", "0", "pipelines/a-shopify.json", "pipelines/b-broken.json", "--state", "s.sqlite"],
                                               in: directory.url, environment: environment)
        #expect(refused.status == 2, "\(refused.output)")
        #expect(refused.stderr.contains("$.extract.page_size"), "\(refused.stderr)")
        #expect(!refused.stdout.contains("listening"))

        // Found in pipelines/, it is logged and shown, and the others are served.
        let server = try await ServeProcess.start(["--state", "s.sqlite"], in: directory.url, environment: environment)
        #expect(try await server.get("/top-products").status == 503)
        let shown = try await server.json("/status")
        guard case .array(let pipelines)? = shown.value["pipelines"] else { throw TestFailure("\(shown)") }
        #expect(pipelines.map { $0["name"] } == [.string("shopify-top-products"), .string("b-broken"), .string("c-copy")])
        #expect(pipelines.map { $0["state"] } == [.string("never_run"), .string("invalid"), .string("invalid")])
        #expect(JSONWriter.string(pipelines[1]).contains("$.extract.page_size"))
        #expect(JSONWriter.string(pipelines[2]).contains("/top-products is already served by pipeline shopify-top-products"))
        let html = String(decoding: try await server.get("/").body, as: UTF8.self)
        #expect(html.contains("b-broken") && html.contains("$.extract.page_size"))
        let stopped = await server.stop()
        #expect(stopped.stderr.contains("not serving"), "\(stopped.stderr)")
        #expect(!(stopped.output + JSONWriter.string(shown.value) + html).contains("secret-token-value"))
    }
}
