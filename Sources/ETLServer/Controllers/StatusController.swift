import ETLCore
import Hummingbird

/// `GET /status`: every pipeline's state, current run, last completed load and last error, as
/// JSON. `GET /healthz`: liveness, 200 whenever the server answers (reports may still be 503).
struct StatusController {
    let statuses: StatusRepository

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("/status") { _, _ in status() }
        router.get("/healthz") { _, _ in JSONResponse.make(.ok, .object(JSONObject([("status", .string("ok"))]))) }
    }

    private func status() -> Response {
        do {
            let pipelines = try statuses.statuses()
            return JSONResponse.make(.ok, .object(JSONObject([("pipelines", .array(pipelines.map(\.json)))])))
        } catch {
            return JSONResponse.error(.serviceUnavailable, "cannot read the checkpoint store: \(error)")
        }
    }
}
