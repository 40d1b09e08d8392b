/// A report declared in a pipeline file: a query over the sink's loaded data, served by `etl serve`
/// at `path`. A new pipeline gets its endpoint without server code.
///
///     "reports": [{
///       "name": "top-products",
///       "path": "/top-products",
///       "query": "SELECT title, sum(quantity) AS cnt_bought FROM {table} GROUP BY title ORDER BY cnt_bought DESC, title ASC LIMIT {limit}",
///       "limit": {"parameter": "count", "default": 10, "max": 1000},
///       "rank": "rank",
///       "fields": ["title", "rank", "cnt_bought"]
///     }]
///
/// The server runs the query once per completed load with `{limit}` = `max` and serves the first
/// `parameter` rows of that result, numbered 1… in the `rank` field.
public struct ReportSpec: Sendable, Equatable {
    public let name: String
    public let description: String?
    /// The HTTP path, e.g. `/top-products`.
    public let path: String
    /// SQL with `{table}` (the sink's live table) and `{limit}` placeholders.
    public let query: String
    /// The query-string parameter that picks how many rows to return.
    public let limitParameter: String
    public let defaultLimit: Int
    public let maximumLimit: Int
    /// A field added to each row with its 1-based position, if set.
    public let rankField: String?
    /// The fields of each returned object, in order (query columns and the rank field).
    public let fields: [String]

    /// The query for one load: `{table}` replaced by the quoted live table, `{limit}` by the maximum.
    public func sql(table: String) -> String {
        query.replacingOccurrences(of: "{table}", with: table).replacingOccurrences(of: "{limit}", with: String(maximumLimit))
    }

    static func read(_ config: inout ConfigReader) -> ReportSpec? {
        let name = config.string("name", required: true)
        let description = config.string("description")
        let path = config.string("path", required: true)
        let query = config.string("query", required: true)
        var limit = config.object("limit", required: true)
        let parameter = limit?.string("parameter", required: true)
        let maximum = limit?.int("max", default: 1000, in: 1...100_000) ?? 1000
        let defaultLimit = limit?.int("default", default: min(10, maximum), in: 1...100_000) ?? 10
        limit?.finish()
        let rank = config.string("rank")
        let fieldsValue = config.value("fields", required: true)

        if let path, !path.hasPrefix("/") || path.contains("?") || path == "/" {
            config.report("\"\(path)\" is not a report path (like \"/top-products\")", at: "path")
        }
        if let query {
            for placeholder in ["{table}", "{limit}"] where !query.contains(placeholder) {
                config.report("the query needs the \(placeholder) placeholder", at: "query")
            }
        }
        if defaultLimit > maximum {
            config.report("default \(defaultLimit) is above max \(maximum)", at: "limit")
        }
        var fields: [String] = []
        if let fieldsValue {
            if case .array(let items) = fieldsValue, !items.isEmpty, items.allSatisfy({ if case .string = $0 { true } else { false } }) {
                fields = items.compactMap { if case .string(let text) = $0 { text } else { nil } }
            } else {
                config.report("expected a non-empty array of field names", at: "fields")
            }
        }
        guard let name, let path, let query, let parameter, !fields.isEmpty else { return nil }
        return ReportSpec(name: name, description: description, path: path, query: query, limitParameter: parameter, defaultLimit: defaultLimit,
                          maximumLimit: maximum, rankField: rank, fields: fields)
    }
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
    /// Runs a report's query against the live table, deduplicated as `mode` needs; rows as
    /// objects, in the query's order. A query that runs longer than `timeout` fails, and the
    /// database is asked to stop it as well.
    func reportRows(_ report: ReportSpec, mode: WriteMode, timeout: Duration) async throws -> [JSONObject]
}
