import Hummingbird
import Logging

/// Wraps the router so that every request, unmatched ones included, is timed, counted in
/// `HTTPMetrics` and written to the access log, and so that no error escapes as a bare 500.
///
/// The access log has method, path, status and duration; never the query string, which could
/// carry secrets.
struct ObservedResponder<Inner: HTTPResponder>: HTTPResponder where Inner.Context == BasicRequestContext {
    typealias Context = BasicRequestContext

    let inner: Inner
    let metrics: HTTPMetrics
    let logger: Logger

    func respond(to request: Request, context: Context) async throws -> Response {
        let started = ContinuousClock.now
        let response: Response
        do {
            response = try await inner.respond(to: request, context: context)
        } catch let error as any HTTPResponseError {
            response = (try? error.response(from: request, context: context)) ?? Response(status: error.status)
        } catch {
            logger.error("\(request.method) \(request.uri.path) failed: \(error)")
            response = JSONResponse.error(.internalServerError, "internal error; the server log has the details")
        }
        let elapsed = ContinuousClock.now - started
        metrics.record(route: Self.routeLabel(context.endpointPath), status: response.status.code, duration: elapsed)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        logger.info("\(request.method) \(request.uri.path) \(response.status.code) \((seconds * 1_000_000).rounded() / 1000)ms")
        return response
    }

    /// The matched route; requests that matched none share one label.
    static func routeLabel(_ endpointPath: String?) -> String {
        guard let endpointPath, endpointPath != "NotFound", endpointPath != "/**" else { return "unmatched" }
        return endpointPath
    }
}
