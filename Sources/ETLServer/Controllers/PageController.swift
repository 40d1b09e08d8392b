import Foundation
import Hummingbird

/// `GET /`: the status page (`StatusPage`), rendered on every request.
struct PageController {
    let statuses: StatusRepository

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("/") { _, _ in page() }
    }

    private func page() -> Response {
        do {
            let html = StatusPage(pipelines: try statuses.statuses(), now: Date()).html
            return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
        } catch {
            return JSONResponse.error(.serviceUnavailable, "cannot read the checkpoint store: \(error)")
        }
    }
}
