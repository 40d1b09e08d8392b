import ETLCore
import Hummingbird

/// JSON responses written with the project's `JSONWriter`.
enum JSONResponse {
    static let contentType = "application/json; charset=utf-8"

    static func make(_ status: HTTPResponse.Status, _ value: JSONValue, headers: HTTPFields = [:]) -> Response {
        var bytes: [UInt8] = []
        JSONWriter.write(value, into: &bytes)
        return make(status, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)), headers: headers)
    }

    static func make(_ status: HTTPResponse.Status, body: ResponseBody, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = contentType
        return Response(status: status, headers: fields, body: body)
    }

    /// `{"error": message, …details}`.
    static func error(_ status: HTTPResponse.Status, _ message: String, details: [(key: String, value: JSONValue)] = [], headers: HTTPFields = [:]) -> Response {
        make(status, .object(JSONObject([("error", .string(message))] + details)), headers: headers)
    }
}
