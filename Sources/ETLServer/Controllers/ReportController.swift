import ETLCore
import Hummingbird

/// Serves each report of one pipeline at its `path`.
///
/// A ranked list (`GET /top-products?count=N`): 200 with the first N rows of the last completed
/// load; 400 when N is not an integer from 1 to the report's maximum (checked first, whatever the
/// data).
///
/// A parameterised report (`GET /v1/products/{product_id}/reviews?from=…`): 400 naming the first
/// parameter that is missing, malformed, out of bounds or given twice, before any query; then the
/// answer for those values from the cache of the last completed load, or from one query that
/// fills it. An `object` answer without a row is a 404.
///
/// Both: 503 with `Retry-After` when there is no completed load yet, or the loaded data cannot be
/// read right now.
struct ReportController {
    let repository: ReportRepository
    let redactor: Redactor
    static let retryAfterSeconds = "2"
    /// A request's query may take this long before the request fails with a 503.
    static let queryTimeout = Duration.seconds(10)

    func addRoutes(to router: Router<BasicRequestContext>) {
        for (index, spec) in repository.pipeline.reports.enumerated() {
            for path in spec.paths {
                if let limit = spec.limit {
                    let parameter = LimitParameter(limit)
                    router.get(RouterPath(path)) { request, _ in ranked(index, limit: parameter, request: request) }
                } else {
                    router.get(RouterPath(path)) { request, context in await parameterised(index, spec: spec, request: request, context: context) }
                }
            }
        }
    }

    private func ranked(_ index: Int, limit: LimitParameter, request: Request) -> Response {
        guard let count = limit.value(inQuery: request.uri.query?[...]) else {
            return JSONResponse.error(.badRequest, limit.problem, details: [
                ("parameter", .string(limit.name)), ("minimum", .int(1)), ("maximum", .int(Int64(limit.maximum))),
            ])
        }
        switch repository.answer(report: index) {
        case .loaded(.ranked(let report)):
            return JSONResponse.make(.ok, body: report.body(count: count))
        case .loaded(.parameterised):
            preconditionFailure("report \(index) of pipeline \(repository.pipeline.name) is a ranked list")
        case .unavailable(let reason, let runState):
            return unavailable(reason, runState: runState)
        }
    }

    private func parameterised(_ index: Int, spec: ReportSpec, request: Request, context: BasicRequestContext) async -> Response {
        let arguments: ReportArguments
        switch Self.arguments(of: spec, request: request, context: context) {
        case .success(let checked): arguments = checked
        case .failure(let problem):
            return JSONResponse.error(.badRequest, problem.message, details: [("parameter", .string(problem.parameter)), ("allowed", .string(problem.allowed))])
        }
        let cache: AnswerCache
        switch repository.answer(report: index) {
        case .loaded(.parameterised(let loaded)): cache = loaded
        case .loaded(.ranked):
            preconditionFailure("report \(index) of pipeline \(repository.pipeline.name) has parameters")
        case .unavailable(let reason, let runState):
            return unavailable(reason, runState: runState)
        }
        if let answer = cache.answer(for: arguments) {
            return JSONResponse.make(answer.status, body: ResponseBody(byteBuffer: answer.body))
        }
        let rows: [JSONObject]
        do {
            let sink = repository.sink
            let mode = repository.pipeline.mode
            rows = try await withTimeout(Self.queryTimeout + .seconds(5)) {
                try await sink.reportRows(spec, arguments: arguments, mode: mode, timeout: Self.queryTimeout)
            }
        } catch {
            return unavailable("the report query of pipeline \(repository.pipeline.name) failed: \(redactor.redact(String(describing: error)))",
                               runState: repository.snapshot.runState)
        }
        let answer: AnswerCache.Answer
        do {
            answer = try Self.answer(spec, rows: rows, arguments: arguments)
        } catch {
            return JSONResponse.error(.internalServerError, error.description)
        }
        cache.store(answer, for: arguments)
        return JSONResponse.make(answer.status, body: ResponseBody(byteBuffer: answer.body))
    }

    /// The request's parameters, checked: path segments and query string, percent-decoded.
    static func arguments(of spec: ReportSpec, request: Request, context: BasicRequestContext) -> Result<ReportArguments, ReportParameterProblem> {
        var texts: [String: [String]]
        switch QueryString.parameters(request.uri.query?[...]) {
        case .success(let parameters): texts = parameters
        case .failure(let problem):
            let name = problem.parameter ?? "the query string"
            return .failure(ReportParameterProblem(parameter: name, message: "\(name) has a malformed %-escape or bytes that are not UTF-8",
                                                   allowed: "percent-encoded UTF-8"))
        }
        for parameter in spec.parameters where parameter.location == .path {
            guard let raw = context.parameters.get(parameter.name), let text = QueryString.percentDecoded(raw[...]) else {
                return .failure(ReportParameterProblem(parameter: parameter.name, message: "\(parameter.name) has a malformed %-escape or bytes that are not UTF-8",
                                                       allowed: parameter.allowed))
            }
            texts[parameter.name] = [text]
        }
        return spec.arguments(texts)
    }

    /// The response for a query's rows, shaped as the report declares.
    static func answer(_ spec: ReportSpec, rows: [JSONObject], arguments: ReportArguments) throws(ReportShapeError) -> AnswerCache.Answer {
        let value = try spec.answer(rows: rows, arguments: arguments)
        var bytes: [UInt8] = []
        JSONWriter.write(value ?? .object(JSONObject([("error", .string(spec.notFoundMessage(arguments)))])), into: &bytes)
        return AnswerCache.Answer(status: value == nil ? .notFound : .ok, body: ByteBuffer(bytes: bytes))
    }

    private func unavailable(_ reason: String, runState: String) -> Response {
        JSONResponse.error(.serviceUnavailable, reason, details: [("state", .string(runState))], headers: [.retryAfter: Self.retryAfterSeconds])
    }
}
