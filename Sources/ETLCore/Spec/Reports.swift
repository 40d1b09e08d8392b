/// A report declared in a pipeline file: a query over the sink's loaded data, served by `etl serve`
/// at `path`. A new pipeline gets its endpoint without server code. Two kinds:
///
/// A **ranked list**, computed once per completed load (`{limit}` at `max`), of which a request
/// gets the first `parameter` rows, numbered 1… in the `rank` field:
///
///     {"name": "top-products", "path": "/top-products",
///      "query": "SELECT title, sum(quantity) AS cnt_bought FROM {table} GROUP BY title ORDER BY cnt_bought DESC, title ASC LIMIT {limit}",
///      "limit": {"parameter": "count", "default": 10, "max": 1000}, "rank": "rank",
///      "fields": ["title", "rank", "cnt_bought"]}
///
/// A **parameterised** report, queried per distinct request (then cached until the next load):
/// `parameters` (see `ReportParameter`) become typed literals at their `{name}` placeholders; a
/// section in `[[ … ]]` is left out when a parameter in it is not given; an optional parameter
/// outside one is `NULL`. `answer` is `list` (an array of rows), `object` (the one row; no row is a
/// 404 with `not_found`, where `{name}` is a parameter's value) or `{"wrap": "key"}` (`{"key": [...]}`).
///
///     {"name": "product-reviews", "path": "/v1/products/{product_id}/reviews",
///      "parameters": {"product_id": {"in": "path", "type": "string"}, "from": {"type": "date"}},
///      "query": "SELECT product_id, count() AS n FROM {table} WHERE product_id = {product_id} [[AND day >= {from}]] GROUP BY product_id",
///      "answer": "object", "not_found": "no reviews of product {product_id}",
///      "fields": {"product_id": "product_id", "review_count": {"column": "n", "type": "int"}}}
///
/// `fields` is a list of column names, or an object of output names to a column, to
/// `{"column", "type"}` (`string`, `int`, `float`, `bool`: the value is converted or the report
/// fails), or to `{"object": {...}}` (a nested object of such fields).
public struct ReportSpec: Sendable, Equatable {
    public let name: String
    public let description: String?
    /// The HTTP path, e.g. `/top-products`; `{name}` segments are path parameters.
    public let path: String
    /// More paths of the same report (`/api/report` beside `/v1/report`), with the same parameters.
    public let alsoAt: [String]
    /// Every path the report answers at.
    public var paths: [String] { [path] + alsoAt }
    /// SQL with `{table}` (the sink's live table), `{limit}` and parameter placeholders.
    public let query: String
    let template: [ReportTemplate.Segment]
    /// Ranked lists only.
    public let limit: ReportLimit?
    /// A field added to each row of a ranked list with its 1-based position, if set.
    public let rankField: String?
    public let parameters: [ReportParameter]
    public let answer: ReportAnswer
    /// The message of a 404 for an `object` answer with no row.
    public let notFound: String
    public let fields: [ReportField]

    /// The names of the fields of each returned object, in order.
    public var fieldNames: [String] { fields.map(\.name) }

    /// The query for one request: `{table}` replaced by the quoted live table, `{limit}` by the
    /// maximum, each parameter by `literal` of its value (`nil`: not given, the sink's NULL).
    public func sql(table: String, arguments: ReportArguments = .none, literal: (ReportValue?) -> String) -> String {
        ReportTemplate.render(template, names: ["table": table, "limit": limit.map { String($0.maximum) } ?? ""], arguments: arguments, literal: literal)
    }

    /// The 404 message for `arguments`: `not_found` with each `{name}` replaced by its value.
    public func notFoundMessage(_ arguments: ReportArguments) -> String {
        var message = notFound
        for (name, value) in arguments.values {
            message = message.replacingOccurrences(of: "{\(name)}", with: value.text)
        }
        return message
    }

    /// A query row as served: the declared fields, renamed and typed, with `rank` for ranked lists.
    public func shape(_ row: JSONObject, rank: Int? = nil) throws(ReportShapeError) -> JSONObject {
        try ReportField.shape(row, fields: fields, rankField: rankField, rank: rank, report: name)
    }

    static func read(_ config: inout ConfigReader) -> ReportSpec? {
        let name = config.string("name", required: true)
        let description = config.string("description")
        let path = config.string("path", required: true)
        let alsoAt = config.stringList("also_at") ?? []
        let query = config.string("query", required: true)
        var limit: ReportLimit?
        if var limitConfig = config.object("limit") {
            let parameter = limitConfig.string("parameter", required: true)
            let maximum = limitConfig.int("max", default: 1000, in: 1...100_000)
            let defaultCount = limitConfig.int("default", default: min(10, maximum), in: 1...100_000)
            limitConfig.finish()
            if defaultCount > maximum { config.report("default \(defaultCount) is above max \(maximum)", at: "limit") }
            limit = parameter.map { ReportLimit(parameter: $0, defaultCount: defaultCount, maximum: maximum) }
        }
        let rank = config.string("rank")
        let parameters = readParameters(&config)
        let answer = readAnswer(&config)
        let notFound = config.string("not_found")
        let fields = ReportField.read(config.value("fields", required: true), at: "fields", &config)

        for (key, path) in [("path", path)] + alsoAt.map({ ("also_at", Optional($0)) }) {
            if let path, !path.hasPrefix("/") || path.contains("?") || path == "/" {
                config.report("\"\(path)\" is not a report path (like \"/top-products\")", at: key)
            }
        }
        let pathNames = path.map(pathParameterNames) ?? []
        for other in alsoAt where pathParameterNames(other).sorted() != pathNames.sorted() {
            config.report("\(other) must have the same {parameters} as \(path ?? "the path")", at: "also_at")
        }
        for parameter in parameters where parameter.location == .path && !pathNames.contains(parameter.name) {
            config.report("the path has no {\(parameter.name)} segment", at: "parameters")
        }
        for name in pathNames where !parameters.contains(where: { $0.name == name && $0.location == .path }) {
            config.report("{\(name)} in the path is not declared among \"parameters\" with \"in\": \"path\"", at: "path")
        }
        for parameter in parameters {
            if let other = parameter.notBefore, !parameters.contains(where: { $0.name == other && $0.kind.name == "date" && !$0.isRepeated }) {
                config.report("not_before names \(other), which is not a single date parameter", at: "parameters")
            }
        }
        if limit != nil, !parameters.isEmpty { config.report("a report is either a ranked list (limit) or has parameters, not both", at: "limit") }
        if limit == nil, parameters.isEmpty, rank != nil { config.report("rank numbers the rows of a ranked list: it needs limit", at: "rank") }
        if answer != .object, notFound != nil { config.report("not_found is the 404 of an \"object\" answer", at: "not_found") }
        if limit != nil, answer != .list { config.report("a ranked list answers a list", at: "answer") }
        if case .wrapped(let wrapping) = answer { check(wrapping, parameters: parameters, fields: fields, &config) }
        var template: [ReportTemplate.Segment] = []
        if let query {
            switch ReportTemplate.parse(query) {
            case .success(let segments):
                template = segments
                let used = ReportTemplate.placeholders(segments)
                for placeholder in ["table"] + (limit != nil ? ["limit"] : []) where !used.all.contains(placeholder) {
                    config.report("the query needs the {\(placeholder)} placeholder", at: "query")
                }
                for placeholder in used.all where !(["table", "limit"].contains(placeholder) || parameters.contains { $0.name == placeholder }) {
                    config.report("{\(placeholder)} in the query is not a declared parameter (nor {table} or {limit})", at: "query")
                }
                if limit == nil, used.all.contains("limit") { config.report("{limit} needs a \"limit\"", at: "query") }
                for parameter in parameters where !used.all.contains(parameter.name) {
                    config.report("parameter \(parameter.name) is not used in the query", at: "parameters")
                }
                for parameter in parameters where parameter.isRepeated && !parameter.isRequired && used.outsideOptional.contains(parameter.name) {
                    config.report("{\(parameter.name)} (repeated, optional) may only appear inside an optional [[ ... ]] section", at: "query")
                }
            case .failure(let problem):
                config.report(problem.message, at: "query")
            }
        }
        guard let name, let path, let query, !fields.isEmpty else { return nil }
        return ReportSpec(name: name, description: description, path: path, alsoAt: alsoAt, query: query, template: template, limit: limit, rankField: rank,
                          parameters: parameters, answer: answer, notFound: notFound ?? "nothing found for this request", fields: fields)
    }

    /// The `{name}` segments of a path.
    static func pathParameterNames(_ path: String) -> [String] {
        path.split(separator: "/").compactMap { segment in
            segment.hasPrefix("{") && segment.hasSuffix("}") && segment.count > 2 ? String(segment.dropFirst().dropLast()) : nil
        }
    }

    private static func readParameters(_ config: inout ConfigReader) -> [ReportParameter] {
        guard let value = config.value("parameters") else { return [] }
        guard case .object(let object) = value else {
            config.report("expected an object of parameter names to their declarations", at: "parameters")
            return []
        }
        var parameters: [ReportParameter] = []
        for field in object.fields {
                let (name, declaration) = (field.key, field.value)
            let at = ConfigReader.childPath(ConfigReader.childPath(config.path, "parameters"), name)
            guard case .object(let fields) = declaration else {
                config.context.diagnostics.report(Diagnostic(path: at, message: "expected an object like {\"type\": \"date\"}"))
                continue
            }
            var reader = ConfigReader(object: fields, path: at, context: config.context)
            if let parameter = ReportParameter.read(name: name, &reader) { parameters.append(parameter) }
            reader.finish()
        }
        return parameters
    }

    private static func readAnswer(_ config: inout ConfigReader) -> ReportAnswer {
        guard let value = config.value("answer") else { return .list }
        switch value {
        case .string("list"): return .list
        case .string("object"): return .object
        case .object(let object):
            var reader = ConfigReader(object: object, path: ConfigReader.childPath(config.path, "answer"), context: config.context)
            let key = reader.string("wrap", required: true)
            let echoed = reader.stringList("echo") ?? []
            let groupFields = reader.stringList("group_by")
            let items = reader.string("items")
            reader.finish()
            if groupFields != nil, items == nil { reader.report("group_by needs \"items\", the key of each group's rows", at: "items") }
            if groupFields == nil, items != nil { reader.report("items names the rows of a group: it needs group_by", at: "items") }
            guard let key, !key.isEmpty else { return .list }
            var grouping: ReportGrouping?
            if let groupFields, let items { grouping = ReportGrouping(fields: groupFields, items: items) }
            return .wrapped(ReportWrapping(key: key, echoed: echoed, grouping: grouping))
        default: break
        }
        config.report("expected \"list\", \"object\" or {\"wrap\": \"key\"}", at: "answer")
        return .list
    }

    /// Checks a wrapped answer against the report's parameters and fields.
    private static func check(_ wrapping: ReportWrapping, parameters: [ReportParameter], fields: [ReportField], _ config: inout ConfigReader) {
        let at = "answer"
        for name in wrapping.echoed where !parameters.contains(where: { $0.name == name }) {
            config.report("echo names \(name), which is not a declared parameter", at: at)
        }
        if wrapping.echoed.contains(wrapping.key) { config.report("\(wrapping.key) is both the wrapped key and an echoed parameter", at: at) }
        guard let grouping = wrapping.grouping else { return }
        let names = fields.map(\.name)
        for name in grouping.fields where !names.contains(name) {
            config.report("group_by names \(name), which is not one of the fields", at: at)
        }
        if grouping.fields.contains(grouping.items) { config.report("items (\(grouping.items)) is also a group_by field", at: at) }
        if grouping.fields.isEmpty || names.allSatisfy(grouping.fields.contains) {
            config.report("group_by must name some of the fields, and leave some for the items", at: at)
        }
    }
}

/// How many rows of a ranked list a request asks for.
public struct ReportLimit: Sendable, Equatable {
    /// The query-string parameter that picks the count.
    public let parameter: String
    public let defaultCount: Int
    public let maximum: Int
}

/// A report query whose rows do not fit the report's `fields`.
public struct ReportShapeError: Error, CustomStringConvertible {
    public let report: String
    public let problem: String

    public var description: String { "report \(report): \(problem); fix its query or fields in the pipeline file" }
}

/// A completed load as the sink itself records it (not the checkpoint file), so that a server on
/// another host can tell that data is ready.
public struct CompletedLoad: Sendable, Equatable {
    public let runID: Int64
    /// Identifies the load (the run's `StageContext.runKey`); run ids alone repeat across
    /// checkpoint files.
    public let runKey: String
    public let rows: Int
    /// Seconds since 1970, UTC.
    public let finishedAt: Double

    public init(runID: Int64, runKey: String, rows: Int, finishedAt: Double) {
        self.runID = runID
        self.runKey = runKey
        self.rows = rows
        self.finishedAt = finishedAt
    }
}

/// A sink whose loaded data can be queried, which is what reports need.
public protocol QueryableSink: Sink {
    /// The newest completed load of `pipeline`, or nil if none has completed.
    func latestLoad(pipeline: String) async throws -> CompletedLoad?
    /// Runs a report's query with `arguments` (as typed literals of the sink's SQL) against the
    /// live table, deduplicated as `mode` needs; rows as
    /// objects, in the query's order. A query that runs longer than `timeout` fails, and the
    /// database is asked to stop it as well.
    func reportRows(_ report: ReportSpec, arguments: ReportArguments, mode: WriteMode, timeout: Duration) async throws -> [JSONObject]
}
