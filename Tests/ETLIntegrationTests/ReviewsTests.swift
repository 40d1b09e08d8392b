import ClickHouseConnector
import ETLCore
import Foundation
import GRDB
import Testing

/// `pipelines/reviews.json` end to end on the real binary: a generated database (SQLite, and the
/// same rows in PostgreSQL) or the real dataset → ClickHouse → `etl serve`. Every answer of both
/// routes must equal an aggregate computed here, independently, from the source rows.
@Suite(.serialized, .enabled(if: ClickHouseHarness.isAvailable, ClickHouseHarness.unavailableComment), SharedClickHouse())
struct ReviewsTests {
    static var pipelinePath: String { Subprocess.packageRoot.appendingPathComponent("pipelines/reviews.json").path }
    static var generator: String { Subprocess.packageRoot.appendingPathComponent("scripts/generate-reviews").path }
    static var sharedCSV: String {
        Subprocess.packageRoot.deletingLastPathComponent().appendingPathComponent("shared/data/reviews/mi2014_5core_first5050.csv").path
    }
    static let engines: [Engine] = PostgresServer.isAvailable ? Engine.allCases : [.sqlite]
    static let sampling = ProcessInfo.processInfo.environment["CLICKHOUSE_URL"].map { $0.isEmpty ? 1 : 4 } ?? 1

    /// A review as the routes aggregate it.
    struct SourceReview {
        let product: String
        let reviewer: String
        let name: String?
        let rating: Int
        /// The UTC date of `unixReviewTime`.
        let day: String
    }

    /// The reviews of a SQLite database, read with GRDB (not through etl).
    static func sourceReviews(_ path: String) throws -> [SourceReview] {
        let queue = try DatabaseQueue(path: path)
        let day = Date.ISO8601FormatStyle().year().month().day()
        return try queue.read { database in
            try Row.fetchAll(database, sql: #"SELECT "productID", "reviewerID", "reviewerName", overall, "unixReviewTime" FROM reviews"#).map { row in
                SourceReview(product: row[0], reviewer: row[1], name: row[2], rating: Int((row[3] as Double).rounded()),
                             day: Date(timeIntervalSince1970: Double(row[4] as Int64)).formatted(day))
            }
        }
    }

    /// What a route must answer for `reviews` (those of one product or one reviewer).
    static func expected(key: String, id: String, reviews: [SourceReview], from: String?, to: String?, names: Bool) -> JSONValue {
        let inRange = reviews.filter { review in
            if let from, review.day < from { return false }
            if let to, review.day > to { return false }
            return true
        }
        let count = inRange.count
        let sum = inRange.reduce(0) { $0 + $1.rating }
        let histogram = JSONObject((1...5).map { rating in (key: String(rating), value: JSONValue.int(Int64(inRange.filter { $0.rating == rating }.count))) })
        let days = inRange.map(\.day)
        let average: JSONValue = count == 0 ? .null : .double(Double(sum) / Double(count))
        var fields: [(key: String, value: JSONValue)] = [(key, .string(id))]
        fields.append(("from", from.map(JSONValue.string) ?? .null))
        fields.append(("to", to.map(JSONValue.string) ?? .null))
        fields.append(("review_count", .int(Int64(count))))
        fields.append(("average_rating", average))
        fields.append(("ratings", .object(histogram)))
        fields.append(("first_review", days.min().map(JSONValue.string) ?? .null))
        fields.append(("last_review", days.max().map(JSONValue.string) ?? .null))
        if names {
            let distinct = Set(inRange.compactMap { $0.name }.filter { !$0.isEmpty })
            fields.append(("reviewer_names", .array(distinct.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }.map(JSONValue.string))))
        }
        return .object(JSONObject(fields))
    }

    /// A path segment or query value, percent-encoded (everything but unreserved characters).
    static func encoded(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"))!
    }

    /// Runs the pipeline from `databaseURL`, serves it, and checks every product and reviewer
    /// without a range, and every `step`-th one over three ranges, against `reviews`. Against a
    /// server at `CLICKHOUSE_URL` (the test command's second pass, ClickHouse 26.9 in chdb, which
    /// runs one statement at a time) every fourth id: the first pass checks them all.
    func checkRoutes(databaseURL: String, reviews: [SourceReview], step: Int, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let environment = try await SharedClickHouse.freshDatabase().merging(["REVIEWS_DATABASE_URL": databaseURL]) { $1 }
        let directory = try TemporaryDirectory()
        let run = try await Subprocess.run(["run", Self.pipelinePath, "--state", "s.sqlite"], in: directory.url, environment: environment)
        try #require(run.status == 0, "\(run.output)", sourceLocation: sourceLocation)
        #expect(run.stdout.contains("\(reviews.count) rows loaded"), "\(run.stdout)", sourceLocation: sourceLocation)
        let server = try await ServeProcess.start([Self.pipelinePath, "--state", "s.sqlite"], in: directory.url, environment: environment)
        _ = try #require(try await server.waitFor("/v1/products/x/reviews", status: 404, within: .seconds(30)), "the reports became ready", sourceLocation: sourceLocation)

        let days = reviews.map(\.day).sorted()
        let ranges: [(String?, String?)] = [(days[days.count / 2], nil), (nil, days[days.count / 3]), (days[days.count / 4], days[days.count * 3 / 4])]
        var checked = 0
        for (route, key, names, group) in [("products", "product_id", false, Dictionary(grouping: reviews, by: \.product)),
                                           ("users", "reviewer_id", true, Dictionary(grouping: reviews, by: \.reviewer))] {
            for (position, id) in group.keys.sorted().enumerated() where position % Self.sampling == 0 {
                for (from, to) in [(nil, nil)] + (position % (step * Self.sampling) == 0 ? ranges : []) {
                    let query = [from.map { "from=\($0)" }, to.map { "to=\($0)" }].compactMap { $0 }.joined(separator: "&")
                    let path = "/v1/\(route)/\(Self.encoded(id))/reviews" + (query.isEmpty ? "" : "?" + query)
                    let answer = try await server.json(path)
                    let expected = Self.expected(key: key, id: id, reviews: group[id]!, from: from, to: to, names: names)
                    #expect(answer.status == 200 && answer.value == expected, "\(path): \(JSONWriter.string(answer.value)) != \(JSONWriter.string(expected))",
                            sourceLocation: sourceLocation)
                    checked += 1
                }
            }
        }
        #expect(checked > 100 / Self.sampling, sourceLocation: sourceLocation)
        for path in ["/v1/products/no-such-product/reviews", "/v1/users/no-such-reviewer/reviews?from=2010-01-01"] {
            let answer = try await server.json(path)
            #expect(answer.status == 404 && answer.value["error"] != nil, "\(path): \(answer)", sourceLocation: sourceLocation)
        }
        _ = await server.stop()
    }

    @Test(arguments: engines)
    func bothRoutesEqualAnAggregateOfTheGeneratedSourceRows(engine: Engine) async throws {
        let directory = try TemporaryDirectory()
        let sqlite = directory.path("reviews.sqlite")
        var arguments = ["--count", "3000", "--seed", "11", "--sqlite", sqlite]
        var url = "sqlite:\(sqlite)"
        if engine == .postgres {
            let database = try await PostgresServer.shared().freshDatabase()
            arguments += ["--postgres", database.url]
            url = database.url
        }
        let generated = try await Subprocess.run(arguments, executable: Self.generator, in: directory.url)
        try #require(generated.status == 0, "\(generated.output)")
        let reviews = try Self.sourceReviews(sqlite)
        #expect(reviews.count == 3000)
        #expect(Dictionary(grouping: reviews, by: \.product).values.contains { $0.count == 1 }, "a product with one review")
        #expect(reviews.contains { $0.name == nil } && reviews.contains { $0.name == "" }, "NULL and empty names")
        try await checkRoutes(databaseURL: url, reviews: reviews, step: 4)
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["CI"] != nil || FileManager.default.fileExists(atPath: ReviewsTests.sharedCSV),
                   "needs ../shared/data/reviews (CI has it)"))
    func theRealDatasetConforms() async throws {
        let directory = try TemporaryDirectory()
        let sqlite = directory.path("mi.sqlite")
        let imported = try await Subprocess.run([Self.sharedCSV, sqlite], executable: Subprocess.packageRoot.appendingPathComponent("scripts/import-reviews-csv").path,
                                                in: directory.url)
        try #require(imported.status == 0, "\(imported.output)")
        let reviews = try Self.sourceReviews(sqlite)
        #expect(reviews.count == 5050 && Set(reviews.map(\.product)).count == 392 && Set(reviews.map(\.reviewer)).count == 1381, "the dataset as its README describes it")
        try await checkRoutes(databaseURL: "sqlite:\(sqlite)", reviews: reviews, step: 10)
    }

    /// Ids full of SQL, quotes, backslashes and NUL find their own reviews and nothing else;
    /// malformed values are refused before any query; a repeated request never reaches ClickHouse.
    @Test func requestTextIsNeverSQLAndRepeatsComeFromTheCache() async throws {
        let directory = try TemporaryDirectory()
        let sqlite = directory.path("reviews.sqlite")
        let generated = try await Subprocess.run(["--count", "200", "--sqlite", sqlite], executable: Self.generator, in: directory.url)
        try #require(generated.status == 0, "\(generated.output)")
        let awkward = ["q'\"\\;--", "' OR '1'='1", "x') UNION ALL SELECT 1 --", "a b+c%", "ü/é 😀", "\\'", "{product_id}"]
        let queue = try DatabaseQueue(path: sqlite)
        try await queue.write { database in
            for (offset, id) in awkward.enumerated() {
                try database.execute(sql: #"INSERT INTO reviews ("index", overall, "productID", "reviewerID", "reviewerName", "unixReviewTime") VALUES (?, ?, ?, ?, ?, ?)"#,
                                     arguments: [1_000_000 + offset, 4, id, id, id, 1_400_000_000 + offset])
            }
        }
        let environment = try await SharedClickHouse.freshDatabase().merging(["REVIEWS_DATABASE_URL": "sqlite:\(sqlite)"]) { $1 }
        let run = try await Subprocess.run(["run", Self.pipelinePath, "--state", "s.sqlite"], in: directory.url, environment: environment)
        try #require(run.status == 0, "\(run.output)")
        let server = try await ServeProcess.start([Self.pipelinePath, "--state", "s.sqlite"], in: directory.url, environment: environment)
        _ = try #require(try await server.waitFor("/v1/products/x/reviews", status: 404, within: .seconds(30)))

        for id in awkward {
            for (route, key) in [("products", "product_id"), ("users", "reviewer_id")] {
                let answer = try await server.json("/v1/\(route)/\(Self.encoded(id))/reviews")
                #expect(answer.status == 200 && answer.value[key] == .string(id) && answer.value["review_count"] == .int(1), "\(route) \(id.debugDescription): \(answer)")
            }
        }
        // NUL is a valid character of a request (SQLite text cannot carry it through GRDB, so no row has it).
        let nul = try await server.json("/v1/products/nul%00byte/reviews")
        #expect(nul.status == 404 && nul.value["error"] == .string("no reviews of product nul\u{0}byte"), "\(nul)")
        let refused = [
            ("/v1/products/p/reviews?from=2014-01-01%27%20OR%201=1", "from"), ("/v1/products/p/reviews?to=2014-01-01%00", "to"),
            ("/v1/products/%C3%28/reviews", "product_id"), ("/v1/products/p/reviews?from=%ZZ", "from"),
            ("/v1/products/p/reviews?from=2014-01-01&from=2014-01-01", "from"), ("/v1/users/\(String(repeating: "x", count: 65))/reviews", "reviewer_id"),
            ("/v1/products/p/reviews?from=2014-03-01&to=2014-02-28", "to"),
        ]
        for (path, parameter) in refused {
            let answer = try await server.json(path)
            #expect(answer.status == 400 && answer.value["parameter"] == .string(parameter) && answer.value["allowed"] != nil, "\(path): \(answer)")
        }
        let table = try await clickHouseClient(for: environment).rows("SELECT count() FROM reviews")
        #expect(table == [["207"]], "the live table is whole: \(table)")

        // With the table gone, only answers already cached can still be given.
        let cached = try await server.get("/v1/products/\(Self.encoded(awkward[0]))/reviews")
        try await clickHouseClient(for: environment).execute("DROP TABLE reviews")
        let again = try await server.get("/v1/products/\(Self.encoded(awkward[0]))/reviews")
        #expect(again.status == 200 && again.body == cached.body, "a repeated request is answered from the cache")
        let uncached = try await server.get("/v1/products/\(Self.encoded(awkward[0]))/reviews?from=2000-01-01")
        #expect(uncached.status == 503, "a new request reaches ClickHouse, which has no table now: \(uncached.status)")
        _ = await server.stop()
    }

    /// SIGKILL at every failpoint of a run from PostgreSQL (each during the resume of the one
    /// before), then `etl resume`: the live table holds every source row exactly once.
    @Test(.enabled(if: PostgresServer.isAvailable, PostgresServer.unavailableComment))
    func aPostgresRunKilledAtEveryFailpointResumesToTheWholeTable() async throws {
        let directory = try TemporaryDirectory()
        let sqlite = directory.path("reviews.sqlite")
        let database = try await PostgresServer.shared().freshDatabase()
        let generated = try await Subprocess.run(["--count", "3000", "--seed", "5", "--sqlite", sqlite, "--postgres", database.url],
                                                 executable: Self.generator, in: directory.url)
        try #require(generated.status == 0, "\(generated.output)")
        let environment = try await SharedClickHouse.freshDatabase().merging(["REVIEWS_DATABASE_URL": database.url, "REVIEWS_BATCH_SIZE": "250"]) { $1 }
        let failpoints = ["after-extract:1", "after-load:3", "after-checkpoint:5", "after-load:8", "before-complete", "after-complete"]
        for (index, failpoint) in failpoints.enumerated() {
            let command = index == 0 ? ["run", Self.pipelinePath] : ["resume", Self.pipelinePath]
            let killed = try await Subprocess.run(command + ["--state", "s.sqlite"], in: directory.url, environment: environment.merging(["ETL_FAILPOINT": failpoint]) { $1 })
            #expect(killed.signal == SIGKILL, "expected SIGKILL at \(failpoint): \(killed.output)")
        }
        let resumed = try await Subprocess.run(["resume", Self.pipelinePath, "--state", "s.sqlite"], in: directory.url, environment: environment)
        #expect(resumed.status == 0, "\(resumed.output)")
        let live = try await clickHouseClient(for: environment).rows(
            "SELECT product_id, reviewer_id, ifNull(reviewer_name, '<null>'), rating, unix_time FROM reviews ORDER BY product_id, reviewer_id, unix_time, reviewer_name, rating")
        let queue = try DatabaseQueue(path: sqlite)
        let source = try await queue.read { database in
            try Row.fetchAll(database, sql: #"SELECT "productID", "reviewerID", ifnull("reviewerName", '<null>'), CAST(overall AS INTEGER), "unixReviewTime" FROM reviews"#)
                .map { row in [row[0] as String, row[1] as String, row[2] as String, String(row[3] as Int64), String(row[4] as Int64)] }
        }
        let expected = source.sorted { $0.lexicographicallyPrecedes($1) { $0.utf8.lexicographicallyPrecedes($1.utf8) } }
        let sortedLive = live.sorted { $0.lexicographicallyPrecedes($1) { $0.utf8.lexicographicallyPrecedes($1.utf8) } }
        #expect(sortedLive.count == 3000 && sortedLive == expected, "the live table is the source, each row once (\(live.count) rows)")
    }
}
