import ETLCore
import Foundation
import Hummingbird
import NIOCore

/// Takes the notifications of a pipeline whose source can be told of new items
/// (`NotifiedSource`, S3 event notifications): `PUT` or `POST` at the source's path.
///
/// 401 when `ETL_INGEST_TOKEN` is set and the request does not carry it; 413 over 1 MiB; 400 for a
/// body that is not JSON or not a notification, naming the field. Otherwise the announced items
/// are recorded in the checkpoint store, durably, before the answer: 202 `{"id", "status":
/// "accepted", "created_at", "announced", "ignored"}`; a following run handles them within its
/// poll interval. 503 when the store does not take them (the sender retries). Any content type
/// is read as JSON: S3-compatible servers and SNS differ in what they send.
struct NotificationController {
    let pipeline: String
    let path: String
    let source: any NotifiedSource
    let store: CheckpointStore
    let token: [UInt8]?
    static let maxBodyBytes = 1 << 20

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.put(RouterPath(path)) { request, _ in await accept(request) }
        router.post(RouterPath(path)) { request, _ in await accept(request) }
    }

    private func accept(_ request: Request) async -> Response {
        if let token, !IngestController.carries(token, request.headers[.authorization]) {
            return JSONResponse.error(.unauthorized, "this route needs Authorization: Bearer <ETL_INGEST_TOKEN>", headers: [.wwwAuthenticate: "Bearer"])
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.maxBodyBytes)
        } catch is NIOTooManyBytesError {
            return JSONResponse.error(.contentTooLarge, "the body is larger than \(Self.maxBodyBytes) bytes")
        } catch {
            return JSONResponse.error(.badRequest, "the body could not be read: \(error)")
        }
        let value: JSONValue
        do {
            value = try body.withUnsafeReadableBytes { try JSONParser.parse($0.bindMemory(to: UInt8.self)) }
        } catch {
            return JSONResponse.error(.badRequest, "the body is not valid JSON: \(error)", details: [("field", .string("$"))])
        }
        let read: (announced: [Announcement], ignored: [String])
        do {
            read = try source.announcements(in: value)
        } catch {
            return JSONResponse.error(.badRequest, "not an S3 event notification: \(error.field): \(error.message)", details: [("field", .string(error.field))])
        }
        let announced: Int
        do {
            announced = try store.announce(pipeline: pipeline, read.announced)
        } catch {
            return JSONResponse.error(.serviceUnavailable, "the checkpoint store did not record the notification, so it was not accepted; retry: \(error.message)",
                                      headers: [.retryAfter: "1"])
        }
        return JSONResponse.make(.accepted, .object(JSONObject([
            ("id", .string(UUID().uuidString.lowercased())), ("status", .string("accepted")),
            ("created_at", .string(Date().formatted(.iso8601))),
            ("announced", .int(Int64(announced))), ("ignored", .array(read.ignored.map(JSONValue.string))),
        ])))
    }
}
