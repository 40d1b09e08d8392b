import ETLCore
import Hummingbird

/// Serves each report of one pipeline at its `path`: `GET /top-products?count=N`.
///
/// - 200: a JSON array of the first N rows of the last completed load, each object with the
///   report's `fields` in order.
/// - 400: N is not an integer from 1 to the report's maximum (checked first, whatever the data).
/// - 503 with `Retry-After`: no completed load yet, or the loaded data cannot be read right now.
struct ReportController {
    let repository: ReportRepository
    static let retryAfterSeconds = "2"

    func addRoutes(to router: Router<BasicRequestContext>) {
        for (index, spec) in repository.pipeline.reports.enumerated() {
            let limit = LimitParameter(spec)
            router.get(RouterPath(spec.path)) { request, _ in report(index, limit: limit, request: request) }
        }
    }

    private func report(_ index: Int, limit: LimitParameter, request: Request) -> Response {
        guard let count = limit.value(inQuery: request.uri.query?[...]) else {
            return JSONResponse.error(.badRequest, limit.problem, details: [
                ("parameter", .string(limit.name)), ("minimum", .int(1)), ("maximum", .int(Int64(limit.maximum))),
            ])
        }
        switch repository.answer(report: index) {
        case .rows(let report):
            return JSONResponse.make(.ok, body: report.body(count: count))
        case .unavailable(let reason, let runState):
            return JSONResponse.error(.serviceUnavailable, reason, details: [("state", .string(runState))],
                                      headers: [.retryAfter: Self.retryAfterSeconds])
        }
    }
}
