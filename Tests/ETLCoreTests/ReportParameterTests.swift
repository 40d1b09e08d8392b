@testable import ETLCore
import Testing

/// Parameterised reports as the core reads and checks them: declarations, request values, the
/// query template. (The server's routes and ClickHouse's literals are tested end to end in
/// `ReviewsTests`.)
struct ReportParameterTests {
    static let reviews = #"""
        {"name": "r", "path": "/v1/products/{product_id}/reviews",
         "parameters": {"product_id": {"in": "path", "type": "string", "max_length": 8},
                        "from": {"type": "date"}, "to": {"type": "date", "not_before": "from"},
                        "site": {"type": "uuid", "repeated": true, "max_count": 3},
                        "days": {"type": "int", "min": 1, "max": 31, "default": 7}},
         "query": "SELECT * FROM {table} WHERE p = {product_id} AND d = {days} [[AND day >= {from}]] [[AND day <= {to}]] [[AND s IN {site}]] -- {from}",
         "answer": "object", "not_found": "no product {product_id}",
         "fields": {"id": "p", "n": {"column": "n", "type": "int"}, "nested": {"object": {"x": {"column": "x", "type": "float"}}}}}
        """#

    /// The spec of `text`, or the diagnostics it got.
    static func read(_ text: String) throws -> (spec: ReportSpec?, problems: [String]) {
        guard case .object(let object) = try JSONParser.parse(text) else { throw ETLError(.invalidPipeline, "not an object") }
        let context = ConfigContext(environment: [:], redactor: Redactor())
        var reader = ConfigReader(object: object, path: "$.reports[0]", context: context)
        let spec = ReportSpec.read(&reader)
        reader.finish()
        return (spec, context.diagnostics.diagnostics.map(\.description))
    }

    static func literal(_ value: ReportValue?) -> String {
        switch value {
        case nil: "NULL"
        case .string(let text)?: "s<\(text)>"
        case .int(let integer)?: "i<\(integer)>"
        case .date(let date)?: "d<\(date)>"
        case .uuid(let uuid)?: "u<\(uuid)>"
        case .list(let values)?: "(" + values.map { literal($0) }.joined(separator: ",") + ")"
        }
    }

    @Test func requestValuesAreTypedAndCheckedBeforeAnyQuery() throws {
        let spec = try #require(try Self.read(Self.reviews).spec)
        func arguments(_ texts: [String: [String]]) -> Result<ReportArguments, ReportParameterProblem> { spec.arguments(texts) }

        guard case .success(let plain) = arguments(["product_id": ["p1"]]) else { Issue.record("p1 refused"); return }
        #expect(plain.values == ["product_id": .string("p1"), "days": .int(7)], "absent optionals are nil, defaults apply")
        #expect(spec.sql(table: "T", arguments: plain, literal: Self.literal) == "SELECT * FROM T WHERE p = s<p1> AND d = i<7>    -- NULL")

        let full = arguments(["product_id": ["p1"], "from": ["2014-01-01"], "to": ["2014-01-01"], "site": ["0F8FAD5B-D9CB-469F-A165-70867728950E", "7c9e6679-7425-40de-944b-e07fc1f90ae7"], "days": ["31"]])
        guard case .success(let given) = full else { Issue.record("\(full)"); return }
        #expect(spec.sql(table: "T", arguments: given, literal: Self.literal)
            == "SELECT * FROM T WHERE p = s<p1> AND d = i<31> AND day >= d<2014-01-01> AND day <= d<2014-01-01> AND s IN (u<0f8fad5b-d9cb-469f-a165-70867728950e>,u<7c9e6679-7425-40de-944b-e07fc1f90ae7>) -- d<2014-01-01>")

        let refused: [([String: [String]], String)] = [
            ([:], "product_id is required"),
            (["product_id": ["123456789"]], "product_id must be a string of 1 to 8 characters"),
            (["product_id": ["p"], "from": ["2014-02-30"]], "from must be a date"),
            (["product_id": ["p"], "from": ["2014-1-01"]], "from must be a date"),
            (["product_id": ["p"], "from": ["2014-01-01", "2014-01-02"]], "from is given 2 times"),
            (["product_id": ["p"], "from": ["2014-01-02"], "to": ["2014-01-01"]], "to (2014-01-01) is before from (2014-01-02)"),
            (["product_id": ["p"], "site": ["not-a-uuid"]], "site must be a UUID"),
            (["product_id": ["p"], "site": Array(repeating: "7c9e6679-7425-40de-944b-e07fc1f90ae7", count: 4)], "site is given 4 times"),
            (["product_id": ["p"], "days": ["32"]], "days must be an integer from 1 to 31"),
            (["product_id": ["p"], "days": ["07"]], "days must be an integer"),
            (["product_id": ["p"], "days": ["+7"]], "days must be an integer"),
            (["product_id": ["p"], "days": ["99999999999999999999"]], "days must be an integer"),
        ]
        for (texts, message) in refused {
            guard case .failure(let problem) = arguments(texts) else {
                Issue.record("\(texts) was accepted")
                continue
            }
            #expect(problem.message.hasPrefix(message), "\(texts): \(problem.message)")
        }
    }

    @Test func calendarDatesAreReal() {
        for date in ["2024-02-29", "2000-02-29", "1900-01-01", "2299-12-31"] { #expect(ReportParameter.isDate(date), "\(date)") }
        for date in ["2023-02-29", "1900-02-29", "2024-13-01", "2024-00-10", "2024-04-31", "1899-12-31", "2024-01-1", "2024/01/01", "２０２４-01-01"] {
            #expect(!ReportParameter.isDate(date), "\(date)")
        }
    }

    @Test func declarationsThatCannotWorkAreReportedWithTheirPlace() throws {
        let cases: [(String, String)] = [
            (#"{"name": "r", "path": "/a/{id}", "query": "SELECT 1 FROM {table}", "fields": ["x"]}"#, "{id} in the path is not declared"),
            (#"{"name": "r", "path": "/a", "parameters": {"id": {"type": "string"}}, "query": "SELECT 1 FROM {table}", "fields": ["x"]}"#, "parameter id is not used"),
            (#"{"name": "r", "path": "/a", "parameters": {"id": {"type": "string"}}, "query": "SELECT {idd} FROM {table} WHERE {id}", "fields": ["x"]}"#, "{idd} in the query is not a declared parameter"),
            (#"{"name": "r", "path": "/a", "parameters": {"id": {"type": "text"}}, "query": "SELECT {id} FROM {table}", "fields": ["x"]}"#, "\"text\" is not one of"),
            (#"{"name": "r", "path": "/a", "parameters": {"s": {"type": "uuid", "repeated": true}}, "query": "SELECT 1 FROM {table} WHERE s IN {s}", "fields": ["x"]}"#, "may only appear inside an optional"),
            (#"{"name": "r", "path": "/a", "parameters": {"d": {"type": "date", "not_before": "e"}}, "query": "SELECT {d} FROM {table}", "fields": ["x"]}"#, "not_before names e"),
            (#"{"name": "r", "path": "/a", "parameters": {"n": {"type": "int", "default": "x"}}, "query": "SELECT {n} FROM {table}", "fields": ["x"]}"#, "the default is not an integer"),
            (#"{"name": "r", "path": "/a", "parameters": {"n": {"type": "int"}}, "query": "SELECT [[{n} FROM {table}", "fields": ["x"]}"#, "is not closed"),
            (#"{"name": "r", "path": "/a", "query": "SELECT 1 FROM {table}", "answer": "one", "fields": ["x"]}"#, "expected \"list\", \"object\""),
            (#"{"name": "r", "path": "/a", "query": "SELECT 1 FROM {table}", "fields": {"x": {"column": "c", "type": "date"}}}"#, "type must be one of"),
            (#"{"name": "r", "path": "/a", "query": "SELECT 1 FROM {table}", "limit": {"parameter": "n"}, "fields": ["x"]}"#, "needs the {limit} placeholder"),
            (#"{"name": "r", "path": "/a", "query": "SELECT 1 FROM {table}", "answer": {"wrap": "w", "echo": ["from"]}, "fields": ["x"]}"#, "echo names from, which is not a declared parameter"),
            (#"{"name": "r", "path": "/a", "query": "SELECT 1 FROM {table}", "answer": {"wrap": "w", "group_by": ["y"], "items": "i"}, "fields": ["x", "z"]}"#, "group_by names y"),
            (#"{"name": "r", "path": "/a", "query": "SELECT 1 FROM {table}", "answer": {"wrap": "w", "group_by": ["x"]}, "fields": ["x", "z"]}"#, "group_by needs \"items\""),
            (#"{"name": "r", "path": "/a", "query": "SELECT 1 FROM {table}", "answer": {"wrap": "w", "group_by": ["x", "z"], "items": "i"}, "fields": ["x", "z"]}"#, "leave some for the items"),
            (#"{"name": "r", "path": "/a", "query": "SELECT 1 FROM {table}", "answer": {"wrap": "w", "group": ["x"]}, "fields": ["x", "z"]}"#, "unknown key \"group\""),
        ]
        for (text, message) in cases {
            let problems = try Self.read(text).problems
            #expect(problems.contains { $0.contains(message) && $0.hasPrefix("$.reports[0]") }, "\(text): \(problems)")
        }
        #expect(try Self.read(Self.reviews).problems.isEmpty)
    }

    @Test func rowsAreShapedRenamedAndTypedAsDeclared() throws {
        let spec = try #require(try Self.read(Self.reviews).spec)
        let row = JSONObject([("p", .string("p1")), ("n", .string("12")), ("x", .int(5))])
        #expect(try spec.shape(row) == JSONObject([("id", .string("p1")), ("n", .int(12)), ("nested", .object(JSONObject([("x", .double(5))])))]))
        #expect(throws: ReportShapeError.self) { try spec.shape(JSONObject([("p", .string("p1")), ("n", .string("twelve")), ("x", .int(5))])) }
        #expect(throws: ReportShapeError.self) { try spec.shape(JSONObject([("p", .string("p1"))])) }
        #expect(spec.notFoundMessage(ReportArguments(["product_id": .string("a'b")])) == "no product a'b")
    }

    /// A wrapped answer echoes the request's parameters and groups rows by the declared fields, in
    /// the order of each group's first row.
    @Test func wrappedAnswersEchoParametersAndGroupRows() throws {
        let text = #"""
            {"name": "r", "path": "/a", "parameters": {"from": {"type": "date"}, "to": {"type": "date"}, "site": {"type": "uuid", "repeated": true}},
             "query": "SELECT * FROM {table} WHERE 1 [[AND d >= {from}]] [[AND d <= {to}]] [[AND s IN {site}]]",
             "answer": {"wrap": "sites", "echo": ["from", "to", "site"], "group_by": ["site"], "items": "days"},
             "fields": {"site": "s", "day": "d", "n": {"column": "n", "type": "int"}}}
            """#
        let read = try Self.read(text)
        #expect(read.problems.isEmpty, "\(read.problems)")
        let spec = try #require(read.spec)
        func row(_ site: String, _ day: String, _ n: String) -> JSONObject { JSONObject([("s", .string(site)), ("d", .string(day)), ("n", .string(n))]) }
        let rows = [row("b", "2021-01-01", "1"), row("b", "2021-01-02", "2"), row("a", "2021-01-01", "3"), row("b", "2021-01-03", "4")]
        func day(_ day: String, _ n: Int64) -> JSONValue { .object(JSONObject([("day", .string(day)), ("n", .int(n))])) }
        let answer = try spec.answer(rows: rows, arguments: ReportArguments(["from": .date("2021-01-01"), "site": .list([.uuid("a"), .uuid("b")])]))
        #expect(answer == .object(JSONObject([
            ("from", .string("2021-01-01")), ("to", .null), ("site", .array([.string("a"), .string("b")])),
            ("sites", .array([
                .object(JSONObject([("site", .string("b")), ("days", .array([day("2021-01-01", 1), day("2021-01-02", 2), day("2021-01-03", 4)]))])),
                .object(JSONObject([("site", .string("a")), ("days", .array([day("2021-01-01", 3)]))])),
            ])),
        ])), "\(answer.map(JSONWriter.string) ?? "nil")")
        #expect(try spec.answer(rows: [], arguments: .none) == .object(JSONObject([("from", .null), ("to", .null), ("site", .null), ("sites", .array([]))])))
        #expect(throws: ReportShapeError.self) { try spec.answer(rows: [JSONObject([("s", .string("a"))])], arguments: .none) }
    }
}

/// `{name}` placeholders of SQL that is not a report (ClickHouse migrations).
struct SQLTemplateTests {
    @Test func placeholdersAreFilledAndBracketsAreText() throws {
        let sql = try SQLTemplate.fill("CREATE VIEW {database}.v AS SELECT [[1]], arr[i[1]], '{\"json\": 1}' FROM {database}.{table}",
                                       with: ["table": "`t`", "database": "`db`"])
        #expect(sql == "CREATE VIEW `db`.v AS SELECT [[1]], arr[i[1]], '{\"json\": 1}' FROM `db`.`t`")
    }

    @Test func anUnknownPlaceholderIsNamed() {
        #expect(throws: SQLTemplate.UnknownPlaceholder.self) { try SQLTemplate.fill("SELECT * FROM {tabel}", with: ["table": "t"]) }
        do {
            _ = try SQLTemplate.fill("SELECT * FROM {tabel}", with: ["table": "t", "database": "d"])
        } catch {
            #expect(error.description == "{tabel} is not a placeholder (known: {database}, {table})")
        }
    }
}
