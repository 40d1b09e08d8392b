import ETLCore
import Foundation
import Hummingbird
import NIOCore

/// Serves one pipeline's ingest routes (`IngestSpec`): `POST` a JSON body, checked against the
/// route's schema, turned into the pipeline's record and published to the source's topic.
///
/// In this order: 401 when `ETL_INGEST_TOKEN` is set and the request does not carry it as
/// `Authorization: Bearer …`; 415 unless the content type is `application/json`; 413 for a body
/// over the route's limit; 400 for a body that is not JSON or that the schema refuses, naming the
/// field (`{"error", "field"}`). Then 202 `{"status": "accepted"}` once the topic holds the record
/// durably, or 503 when it does not take it (nothing was accepted: the client retries).
///
/// A batch route answers 202 `{"accepted": N, "rejected": [{"index", "error"}]}`: each item is
/// checked alone and the valid ones are published together; the envelope (not an object, no
/// array, too many items) is a 400 for the whole request.
struct IngestController {
    let pipeline: String
    let spec: IngestSpec
    let publisher: any TopicPublisher
    /// `ETL_INGEST_TOKEN`'s bytes, when set.
    let token: [UInt8]?
    static let retryAfterSeconds = "1"

    func addRoutes(to router: Router<BasicRequestContext>) {
        for route in spec.routes {
            for path in route.paths {
                router.post(RouterPath(path)) { request, _ in await accept(request, route: route) }
            }
            if let schemaPath = route.schemaPath {
                let document = route.schema.document
                router.get(RouterPath(schemaPath)) { _, _ in JSONResponse.make(.ok, document) }
            }
        }
    }

    private func accept(_ request: Request, route: IngestRoute) async -> Response {
        if let token, !Self.carries(token, request.headers[.authorization]) {
            return JSONResponse.error(.unauthorized, "this route needs Authorization: Bearer <ETL_INGEST_TOKEN>", headers: [.wwwAuthenticate: "Bearer"])
        }
        guard Self.isJSON(request.headers[.contentType]) else {
            return JSONResponse.error(.unsupportedMediaType, "send the body as JSON with Content-Type: application/json")
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: route.maxBodyBytes)
        } catch is NIOTooManyBytesError {
            return JSONResponse.error(.contentTooLarge, "the body is larger than \(route.maxBodyBytes) bytes")
        } catch {
            return JSONResponse.error(.badRequest, "the body could not be read: \(error)")
        }
        let value: JSONValue
        do {
            value = try body.withUnsafeReadableBytes { try JSONParser.parse($0.bindMemory(to: UInt8.self)) }
        } catch {
            return Self.invalid("the body is not valid JSON: \(error)", field: "$")
        }
        if let batch = route.batch {
            return await acceptBatch(value, key: batch, route: route)
        }
        if let violation = route.schema.validate(value) {
            return Self.invalid(violation.description, field: violation.field)
        }
        let message: TopicMessage
        switch makeMessage(value, route: route) {
        case .success(let made): message = made
        case .failure(let problem): return Self.invalid("\(problem.field) \(problem.message)", field: problem.field)
        }
        do {
            try await publisher.publish([message])
        } catch {
            return notTaken(error)
        }
        return JSONResponse.make(.accepted, .object(JSONObject([("status", .string("accepted"))])))
    }

    private func acceptBatch(_ value: JSONValue, key: String, route: IngestRoute) async -> Response {
        if let violation = route.schema.validate(value, skippingItemsOf: key) {
            return Self.invalid(violation.description, field: violation.field)
        }
        guard case .object(let envelope) = value, case .array(let items)? = envelope[key], let itemSchema = route.schema.itemSchema(of: key) else {
            return Self.invalid("\(key) must be an array", field: key)
        }
        var messages: [TopicMessage] = []
        var rejected: [JSONValue] = []
        for (index, item) in items.enumerated() {
            var problem: String?
            if let violation = itemSchema.validate(item) {
                problem = violation.description
            } else {
                switch makeMessage(item, route: route) {
                case .success(let message): messages.append(message)
                case .failure(let failure): problem = "\(failure.field) \(failure.message)"
                }
            }
            if let problem {
                rejected.append(.object(JSONObject([("index", .int(Int64(index))), ("error", .string(problem))])))
            }
        }
        do {
            try await publisher.publish(messages)
        } catch {
            return notTaken(error)
        }
        return JSONResponse.make(.accepted, .object(JSONObject([("accepted", .int(Int64(messages.count))), ("rejected", .array(rejected))])))
    }

    /// The topic message of one item that the schema accepted.
    private func makeMessage(_ item: JSONValue, route: IngestRoute) -> Result<TopicMessage, RecordFieldError> {
        guard case .object(let object) = item else { return .failure(RecordFieldError(field: "$", message: "must be an object")) }
        let record: JSONObject
        do {
            record = try route.record(of: object)
        } catch {
            return .failure(error)
        }
        let key: String
        switch record[spec.key] {
        case .string(let text)?: key = text
        case let other?: key = JSONWriter.string(other)
        case nil: key = ""
        }
        var bytes: [UInt8] = []
        JSONWriter.write(.object(record), into: &bytes)
        return .success(TopicMessage(key: key, value: bytes))
    }

    private func notTaken(_ error: any Error) -> Response {
        JSONResponse.error(.serviceUnavailable, "the queue of pipeline \(pipeline) did not take the event, so it was not accepted; retry: \(error)",
                           headers: [.retryAfter: Self.retryAfterSeconds])
    }

    private static func invalid(_ message: String, field: String) -> Response {
        JSONResponse.error(.badRequest, message, details: [("field", .string(field))])
    }

    /// `application/json`, with parameters (`; charset=utf-8`) or without.
    static func isJSON(_ contentType: String?) -> Bool {
        guard let contentType else { return false }
        if contentType == "application/json" { return true }  // nearly every request: no work (Foundation's trimming cost 4% of ingest CPU)
        var mediaType = contentType.prefix { $0 != ";" }
        while mediaType.first == " " || mediaType.first == "\t" { mediaType.removeFirst() }
        while mediaType.last == " " || mediaType.last == "\t" { mediaType.removeLast() }
        return mediaType.lowercased() == "application/json"
    }

    /// Whether `header` is `Bearer <token>`, compared in time that does not depend on where the
    /// bytes differ nor on the given token's length.
    static func carries(_ token: [UInt8], _ header: String?) -> Bool {
        guard let header, header.hasPrefix("Bearer ") else { return false }
        let given = Array(header.utf8.dropFirst(7))
        var difference: UInt8 = given.count == token.count ? 0 : 1
        for index in token.indices {
            difference |= token[index] ^ (index < given.count ? given[index] : 0)
        }
        return difference == 0
    }
}
