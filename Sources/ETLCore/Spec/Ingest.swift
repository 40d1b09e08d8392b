import Foundation
import Logging

/// One message for a topic: its value's bytes, and the key that picks its partition (all the
/// messages with one key keep their order).
public struct TopicMessage: Sendable {
    public let key: String
    public let value: [UInt8]

    public init(key: String, value: [UInt8]) {
        self.key = key
        self.value = value
    }
}

/// Writes messages to a topic. `publish` returns once every message is durable: acknowledged by
/// all in-sync replicas of a broker, or written and fsynced by a local log. It throws when they
/// may not be, and then the caller must not report them accepted.
public protocol TopicPublisher: Sendable {
    func publish(_ messages: [TopicMessage]) async throws
    /// Waits for what is in flight, then releases the topic.
    func close() async
}

/// A source that reads a topic which `etl serve` can also write to: the pipeline's ingest routes
/// publish through it, so that the server knows no connector.
public protocol PublishingSource: Source {
    /// A publisher to the source's topic, opened once by the server.
    func makePublisher(logger: Logger) async throws -> any TopicPublisher
}

/// A pipeline's HTTP ingest, served by `etl serve`: routes that accept JSON bodies, check each
/// against a JSON Schema file, turn it into the pipeline's record and publish that to the source's
/// topic. Versions coexist as routes: a new version is a schema file and a route entry.
///
///     "ingest": {"key": "correlation_id", "routes": [
///       {"path": "/v1/event", "schema": "schemas/captcha-event.v1.json", "schema_path": "/v1/schema",
///        "record": {"time": {"from": "time", "as": "utc_timestamp"}, "type": "type", ...}},
///       {"path": "/v2/events", "schema": "schemas/captcha-events.v2.json", "batch": "events",
///        "record": {"time": {"from": "ts", "as": "epoch_milliseconds"}, "type": "kind", ...}}]}
public struct IngestSpec: Sendable {
    /// The record field whose value keys each message.
    public let key: String
    public let routes: [IngestRoute]

    static func read(_ config: inout ConfigReader) -> IngestSpec? {
        let key = config.string("key", required: true)
        var routes: [IngestRoute] = []
        switch config.value("routes", required: true) {
        case .array(let items)?:
            for (index, item) in items.enumerated() {
                let at = "\(config.path).routes[\(index)]"
                guard case .object(let object) = item else {
                    config.context.diagnostics.report(Diagnostic(path: at, message: "expected an object with path, schema and record"))
                    continue
                }
                var reader = ConfigReader(object: object, path: at, context: config.context)
                if let route = IngestRoute.read(&reader) {
                    if let key, !route.record.contains(where: { $0.name == key }) {
                        reader.report("the record has no field \(key), which keys the messages (ingest.key)", at: "record")
                    }
                    if routes.contains(where: { !Set($0.paths).isDisjoint(with: route.paths) }) { reader.report("another ingest route already serves \(route.path)", at: "path") }
                    routes.append(route)
                }
                reader.finish()
            }
            if items.isEmpty { config.report("expected at least one route", at: "routes") }
        case let other?:
            config.report("expected an array of routes, found \(other.kindName)", at: "routes")
        case nil:
            break
        }
        guard let key, !routes.isEmpty else { return nil }
        return IngestSpec(key: key, routes: routes)
    }
}

/// One ingest route: `POST path` with a body that `schema` accepts. A `batch` route's body holds
/// an array of items at that key, each checked and accepted or rejected on its own.
public struct IngestRoute: Sendable {
    public let path: String
    /// More paths of the same route (`/api/event` beside `/v1/event`).
    public let alsoAt: [String]
    /// Where the server serves the schema, if anywhere (`GET`).
    public let schemaPath: String?
    public let schema: JSONSchema
    /// The key of the array of items in a batch body; `nil` when the body is one item.
    public let batch: String?
    /// A larger body is a 413.
    public let maxBodyBytes: Int
    /// The record published for an item, field by field, in order.
    public let record: [RecordField]

    /// Every path the route answers at.
    public var paths: [String] { [path] + alsoAt }

    /// The record for one item that the schema accepted.
    public func record(of item: JSONObject) throws(RecordFieldError) -> JSONObject {
        var record = JSONObject(minimumCapacity: self.record.count)
        for field in self.record {
            record.appendUnchecked(field.name, try field.value(in: item))
        }
        return record
    }

    static func read(_ config: inout ConfigReader) -> IngestRoute? {
        let path = config.string("path", required: true)
        let schemaFile = config.filePath("schema", required: true)
        let alsoAt = config.stringList("also_at") ?? []
        let schemaPath = config.string("schema_path")
        let batch = config.string("batch")
        let maxBodyBytes = config.int("max_body_bytes", default: 65_536, in: 1...16_777_216)
        var record: [RecordField] = []
        if case .object(let fields)? = config.value("record", required: true) {
            for field in fields.fields {
                let at = ConfigReader.childPath(ConfigReader.childPath(config.path, "record"), field.key)
                switch RecordField.read(name: field.key, field.value) {
                case .success(let recordField): record.append(recordField)
                case .failure(let problem): config.context.diagnostics.report(Diagnostic(path: at, message: problem.message))
                }
            }
            if fields.isEmpty { config.report("expected at least one field", at: "record") }
        } else if config.value("record") != nil {
            config.report("expected an object of record fields to the body field each comes from", at: "record")
        }
        for (key, value) in [("path", path), ("schema_path", schemaPath)] + alsoAt.map({ ("also_at", Optional($0)) }) {
            if let value, !value.hasPrefix("/") || value.contains("?") || value == "/" {
                config.report("\"\(value)\" is not a route path (like \"/v1/event\")", at: key)
            }
        }
        var schema: JSONSchema?
        if let schemaFile {
            do {
                schema = try JSONSchema.load(path: schemaFile)
            } catch {
                config.report("\(error)", at: "schema")
            }
        }
        guard let path, let schema, !record.isEmpty else { return nil }
        return IngestRoute(path: path, alsoAt: alsoAt, schemaPath: schemaPath, schema: schema, batch: batch, maxBodyBytes: maxBodyBytes, record: record)
    }
}

/// A field of a published record: a body field's value, as it is or converted.
public struct RecordField: Sendable {
    public enum Conversion: String, Sendable, CaseIterable {
        /// The value as it is.
        case none
        /// An ISO 8601 date-time (with or without fraction and offset) as UTC without an offset:
        /// `2021-01-22T18:20:42.159246`.
        case utcTimestamp = "utc_timestamp"
        /// Milliseconds since 1970 as that same UTC date-time text.
        case epochMilliseconds = "epoch_milliseconds"
        /// A UUID in lowercase, so that copies of one event that differ in case are one event.
        case uuid
    }

    public let name: String
    public let from: String
    public let conversion: Conversion

    func value(in item: JSONObject) throws(RecordFieldError) -> JSONValue {
        let value = item[from] ?? .null
        switch (conversion, value) {
        case (.none, _):
            return value
        case (.utcTimestamp, .string(let text)):
            guard let timestamp = UTCTimestamp(parsing: text) else { break }
            return .string(timestamp.iso8601)
        case (.epochMilliseconds, .int(let milliseconds)):
            return .string(UTCTimestamp(millisecondsSince1970: milliseconds).iso8601)
        case (.uuid, .string(let text)) where JSONSchema.isUUID(text):
            return .string(text.lowercased())
        default:
            break
        }
        let expected = switch conversion {
        case .utcTimestamp: "an ISO 8601 date-time like 2021-01-22T18:20:42.159246"
        case .epochMilliseconds: "an integer number of milliseconds since 1970"
        case .uuid, .none: "a UUID like 123e4567-e89b-12d3-a456-426614174000"
        }
        throw RecordFieldError(field: from, message: "must be \(expected)")
    }

    static func read(name: String, _ value: JSONValue) -> Result<RecordField, RecordFieldError> {
        switch value {
        case .string(let from) where !from.isEmpty:
            return .success(RecordField(name: name, from: from, conversion: .none))
        case .object(let object):
            guard case .string(let from)? = object["from"], !from.isEmpty else { break }
            let choices = Conversion.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
            guard object.keys.allSatisfy({ $0 == "from" || $0 == "as" }) else {
                return .failure(RecordFieldError(field: name, message: "expected only \"from\" and \"as\""))
            }
            guard let conversion = Conversion(rawValue: object["as"].flatMap { if case .string(let text) = $0 { text } else { nil } } ?? "none") else {
                return .failure(RecordFieldError(field: name, message: "\"as\" must be one of \(choices)"))
            }
            return .success(RecordField(name: name, from: from, conversion: conversion))
        default:
            break
        }
        return .failure(RecordFieldError(field: name, message: "expected the body field it comes from, or {\"from\": \"field\", \"as\": \"utc_timestamp\"}"))
    }
}

/// A body field that its record field cannot be made of.
public struct RecordFieldError: Error, Sendable {
    public let field: String
    public let message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }
}
