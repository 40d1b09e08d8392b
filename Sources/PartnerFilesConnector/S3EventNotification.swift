import ETLCore
import Foundation

/// An S3 event notification (`{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket":
/// {"name"}, "object": {"key", "eTag", "size"}}}]}`, as S3 and MinIO send them) read into the
/// objects it announces. What is not an announcement of a new file under the import prefix is
/// ignored with a reason: S3's `s3:TestEvent`, other event names (`ObjectRemoved:*`), another
/// bucket, a key outside the prefix. A body that is not such a notification is an error naming
/// the field, for a 400.
public struct S3EventNotification: Sendable, Equatable {
    public struct Announced: Sendable, Equatable {
        /// Decoded: S3 sends keys URL-encoded with `+` for a space.
        public var key: String
        public var eTag: String?
        public var size: Int64?

        public init(key: String, eTag: String?, size: Int64?) {
            self.key = key
            self.eTag = eTag
            self.size = size
        }
    }

    public struct Ignored: Sendable, Equatable {
        /// The record's position in `Records`, from 0; nil for a test event.
        public var index: Int?
        public var reason: String
    }

    public var announced: [Announced]
    public var ignored: [Ignored]

    public init(_ body: JSONValue, bucket: String, prefix: String) throws(NotificationInvalid) {
        guard case .object(let root) = body else { throw NotificationInvalid(field: "$", message: "an S3 event notification is a JSON object, not a \(body.kindName)") }
        announced = []
        ignored = []
        if case .string("s3:TestEvent")? = root["Event"] {
            ignored.append(Ignored(index: nil, reason: "s3:TestEvent"))
            return
        }
        guard case .array(let records)? = root["Records"] else {
            throw NotificationInvalid(field: "$.Records", message: root["Records"] == nil ? "missing: an S3 event notification has a Records array" : "must be an array")
        }
        for (index, record) in records.enumerated() {
            let at = "$.Records[\(index)]"
            let name = try Self.string(record, "eventName", at: at)
            let recordBucket = try Self.string(record, "s3.bucket.name", at: at)
            let encodedKey = try Self.string(record, "s3.object.key", at: at)
            guard let key = Self.decodeKey(encodedKey) else {
                throw NotificationInvalid(field: "\(at).s3.object.key", message: "\"\(encodedKey)\" is not a URL-encoded key")
            }
            let eTag = try Self.optionalString(record, "s3.object.eTag", at: at)
            let size = try Self.optionalInt(record, "s3.object.size", at: at)
            if !name.hasPrefix("ObjectCreated:") {
                ignored.append(Ignored(index: index, reason: "\(name) is not an object creation"))
            } else if recordBucket != bucket {
                ignored.append(Ignored(index: index, reason: "bucket \(recordBucket) is not \(bucket)"))
            } else if !key.hasPrefix(prefix) {
                ignored.append(Ignored(index: index, reason: "\(key) is outside the import path \(prefix)"))
            } else {
                announced.append(Announced(key: key, eTag: eTag.map(S3Client.unquoted), size: size))
            }
        }
    }

    /// S3's key encoding: `+` for a space, then percent-encoding. Nil when it is not valid.
    static func decodeKey(_ encoded: String) -> String? {
        encoded.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }

    private static func value(_ record: JSONValue, _ path: String) -> JSONValue? {
        record[path: FieldPath(path)!]
    }

    private static func string(_ record: JSONValue, _ path: String, at: String) throws(NotificationInvalid) -> String {
        switch value(record, path) {
        case .string(let text)?: return text
        case nil: throw NotificationInvalid(field: "\(at).\(path)", message: "missing")
        case let other?: throw NotificationInvalid(field: "\(at).\(path)", message: "must be a string, not a \(other.kindName)")
        }
    }

    private static func optionalString(_ record: JSONValue, _ path: String, at: String) throws(NotificationInvalid) -> String? {
        guard let found = value(record, path), found != .null else { return nil }
        return try string(record, path, at: at)
    }

    private static func optionalInt(_ record: JSONValue, _ path: String, at: String) throws(NotificationInvalid) -> Int64? {
        switch value(record, path) {
        case nil, .null?: return nil
        case .int(let number)? where number >= 0: return number
        case let other?: throw NotificationInvalid(field: "\(at).\(path)", message: "must be a non-negative integer, not \(JSONWriter.string(other))")
        }
    }
}
