import ETLCore
import Foundation
import Testing

struct JSONSchemaTests {
    // MARK: UTCTimestamp

    func iso(_ text: String) -> String? { UTCTimestamp(parsing: text)?.iso8601 }

    @Test func timestampsParseWithAndWithoutFractionAndZone() {
        let timestamp = UTCTimestamp(parsing: "2021-01-22T18:20:42.159246")
        #expect(timestamp?.microsecondsSince1970 == 1_611_339_642_159_246)
        #expect(timestamp?.iso8601 == "2021-01-22T18:20:42.159246")
        #expect(timestamp?.day == "2021-01-22")
        #expect(UTCTimestamp(parsing: "2021-01-22T18:20:42")?.microsecondsSince1970 == 1_611_339_642_000_000)
        #expect(iso("2021-01-22T18:20:42") == "2021-01-22T18:20:42")
        #expect(iso("2021-01-22T18:20:42Z") == "2021-01-22T18:20:42")
        #expect(iso("2021-01-22T18:20:42.5Z") == "2021-01-22T18:20:42.500000")
        #expect(iso("2021-01-22T18:20:42.000000") == "2021-01-22T18:20:42")
        #expect(UTCTimestamp(parsing: "2021-01-22T18:20:42.159246"[...]) == timestamp)
    }

    @Test func offsetsAreConvertedToUTC() {
        #expect(iso("2021-01-22T20:20:42.159246+02:00") == "2021-01-22T18:20:42.159246")
        #expect(iso("2021-01-22T12:50:42-05:30") == "2021-01-22T18:20:42")
        #expect(iso("2021-01-22T12:50:42-0530") == "2021-01-22T18:20:42")
        #expect(iso("2021-01-22T18:20:42+00:00") == "2021-01-22T18:20:42")
        // The day rolls over in both directions.
        #expect(iso("2021-01-01T01:30:00+02:00") == "2020-12-31T23:30:00")
        #expect(UTCTimestamp(parsing: "2021-01-01T01:30:00+02:00")?.day == "2020-12-31")
        #expect(iso("2020-12-31T22:00:00-03:00") == "2021-01-01T01:00:00")
        #expect(iso("2024-02-28T23:00:00-01:00") == "2024-02-29T00:00:00")
    }

    @Test func calendarDatesAreValidated() {
        #expect(iso("2024-02-29T00:00:00Z") == "2024-02-29T00:00:00")
        #expect(iso("2000-02-29T00:00:00Z") == "2000-02-29T00:00:00")
        #expect(iso("2023-02-29T00:00:00Z") == nil)
        #expect(iso("1900-02-29T00:00:00Z") == nil)
        #expect(iso("2021-04-31T00:00:00Z") == nil)
        #expect(iso("2021-12-31T23:59:59Z") == "2021-12-31T23:59:59")
        #expect(UTCTimestamp.parseDate("2024-02-29")! == (2024, 2, 29))
        #expect(UTCTimestamp.parseDate("2023-02-29") == nil)
        #expect(UTCTimestamp.parseDate("2024-02-29T00:00:00") == nil)
        #expect(UTCTimestamp.parseDate("2024-2-29") == nil)
    }

    @Test(arguments: [
        "2021-13-01T00:00:00", "2021-00-01T00:00:00", "2021-01-00T00:00:00", "2021-01-32T00:00:00",
        "2021-01-22T24:00:00", "2021-01-22T18:60:00", "2021-01-22T18:20:60",
        "2021-01-22T18:20:42Zx", "2021-01-22T18:20:42 ", "2021-01-22T18:20:42.159246x", "x2021-01-22T18:20:42",
        "2021-01-22t18:20:42", "2021-01-22 18:20:42", "2021-01-22T18:20:42z",
        "2021-01-22T18:20:42.", "2021-01-22T18:20:42.1234567890", "2021-01-22T18:20:42,5",
        "2021-01-22T18:20:42+02", "2021-01-22T18:20:42+2:00", "2021-01-22T18:20:42+24:00", "2021-01-22T18:20:42+02:60",
        "2021-01-22T18:20:42+02:00Z", "2021-1-22T18:20:42", "2021-01-22T18:20", "2021-01-22", "", "+2021-01-22T18:20:42",
    ])
    func malformedTimestampsAreRefused(text: String) {
        #expect(UTCTimestamp(parsing: text) == nil)
    }

    @Test func fractionsBeyondMicrosecondsRoundTowardThePast() {
        #expect(UTCTimestamp(parsing: "2021-01-22T18:20:42.159246999Z")?.microsecondsSince1970 == 1_611_339_642_159_246)
        #expect(iso("2021-01-22T18:20:42.1592469") == "2021-01-22T18:20:42.159246")
        #expect(UTCTimestamp(parsing: "1969-12-31T23:59:59.9999999Z")?.microsecondsSince1970 == -1)
    }

    @Test func datesBefore1970() {
        #expect(UTCTimestamp(parsing: "1960-03-01T00:00:00Z")?.microsecondsSince1970 == -310_435_200_000_000)
        #expect(UTCTimestamp(parsing: "1901-12-13T20:45:52Z")?.microsecondsSince1970 == -2_147_483_648_000_000)
        #expect(UTCTimestamp(parsing: "0001-01-01T00:00:00Z")?.microsecondsSince1970 == -62_135_596_800_000_000)
        #expect(UTCTimestamp(microsecondsSince1970: -1).iso8601 == "1969-12-31T23:59:59.999999")
        #expect(UTCTimestamp(microsecondsSince1970: -1).day == "1969-12-31")
        #expect(UTCTimestamp(microsecondsSince1970: -310_435_200_000_000).iso8601 == "1960-03-01T00:00:00")
        #expect(iso("0000-01-01T00:00:00+01:00") == "-0001-12-31T23:00:00")
    }

    @Test func renderingRoundTrips() {
        for micros: Int64 in [0, 1, -1, 1_611_339_642_159_246, -62_135_596_800_000_001, 253_402_300_799_999_999, 951_782_400_000_000] {
            let timestamp = UTCTimestamp(microsecondsSince1970: micros)
            #expect(UTCTimestamp(parsing: timestamp.iso8601) == timestamp, "\(micros)")
        }
        #expect(UTCTimestamp(microsecondsSince1970: 253_402_300_799_999_999).iso8601 == "9999-12-31T23:59:59.999999")
        #expect(UTCTimestamp(microsecondsSince1970: 0).iso8601 == "1970-01-01T00:00:00")
    }

    @Test func millisecondsAndOrdering() {
        #expect(UTCTimestamp(millisecondsSince1970: 1_611_339_642_159).iso8601 == "2021-01-22T18:20:42.159000")
        #expect(UTCTimestamp(millisecondsSince1970: -1).iso8601 == "1969-12-31T23:59:59.999000")
        #expect(UTCTimestamp(millisecondsSince1970: .max).microsecondsSince1970 == .max)
        #expect(UTCTimestamp(millisecondsSince1970: .min).microsecondsSince1970 == .min)
        #expect(UTCTimestamp(parsing: "2021-01-22T18:20:42Z")! < UTCTimestamp(parsing: "2021-01-22T18:20:42.000001Z")!)
        #expect(UTCTimestamp(parsing: "2021-01-22T20:20:42+02:00") == UTCTimestamp(parsing: "2021-01-22T18:20:42Z"))
    }

    // MARK: JSONSchema

    static let eventSchema = #"""
    {
      "$schema": "https://json-schema.org/draft/2020-12/schema",
      "$id": "https://example.com/captcha-event.v1.json",
      "title": "Captcha event",
      "description": "One event of a captcha.",
      "$comment": "v1",
      "examples": [{"correlation_id": "123e4567-e89b-12d3-a456-426614174000"}],
      "type": "object",
      "required": ["correlation_id", "time", "type"],
      "additionalProperties": false,
      "properties": {
        "correlation_id": {"type": "string", "format": "uuid"},
        "time": {"type": "string", "format": "date-time"},
        "type": {"enum": ["serve", "solve"]},
        "site": {"type": "string", "minLength": 1, "maxLength": 5},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "attempt": {"type": "integer", "minimum": 1},
        "day": {"type": ["string", "null"], "format": "date"},
        "version": {"const": 1},
        "tags": {"type": "array", "minItems": 1, "maxItems": 3, "items": {"type": "string"}}
      }
    }
    """#

    static let batchSchema = #"""
    {"type": "object", "required": ["events"], "properties": {"events": {"type": "array", "maxItems": 1000, "items": {
      "type": "object", "required": ["kind", "ts"], "additionalProperties": false,
      "properties": {"kind": {"enum": ["serve", "solve"]}, "ts": {"type": "integer"}}}}}}
    """#

    func schema(_ text: String) throws -> JSONSchema { try JSONSchema(try JSONParser.parse(text), name: "test.json") }

    func violation(_ schemaText: String, _ body: String) throws -> JSONSchemaViolation? {
        try schema(schemaText).validate(try JSONParser.parse(body))
    }

    func loadError(_ text: String) throws -> JSONSchemaError? {
        let value = try JSONParser.parse(text)
        return #expect(throws: JSONSchemaError.self) { try JSONSchema(value, name: "test.json") }
    }

    static let valid = #""correlation_id": "123e4567-e89b-12d3-a456-426614174000", "time": "2021-01-22T18:20:42.159246", "type": "serve""#

    @Test func aValidInstancePasses() throws {
        #expect(try violation(Self.eventSchema, "{\(Self.valid)}") == nil)
        let everything = #"""
        {"type": "solve", "time": "2021-01-22T20:20:42+02:00", "correlation_id": "123E4567-E89B-12D3-A456-426614174000",
         "site": "ééééé", "score": 1, "attempt": 2.0, "day": null, "version": 1.0, "tags": ["a", "b", "c"]}
        """#
        #expect(try violation(Self.eventSchema, everything) == nil)
        #expect(try violation(Self.eventSchema, "{\(Self.valid), \"day\": \"2024-02-29\", \"score\": 0.5}") == nil)
        #expect(try violation(Self.batchSchema, #"{"events": [], "other": {"anything": true}}"#) == nil)
    }

    /// The valid event with the fields of `overrides` replaced or added.
    func event(_ overrides: String) throws -> JSONValue {
        let valid = try JSONParser.parse("{\(Self.valid)}")
        guard case .object(var object) = valid, case .object(let changes) = try JSONParser.parse("{\(overrides)}") else { return valid }
        for change in changes.fields { object[change.key] = change.value }
        return .object(object)
    }

    static let violations: [(overrides: String, field: String, message: String)] = [
        (#""extra": 1"#, "extra", "is not allowed (unknown field)"),
        (#""time": 1611339642"#, "time", "must be a string, not an integer"),
        (#""correlation_id": "123e4567-e89b-12d3-a456-42661417400""#, "correlation_id", "must be a UUID like 123e4567-e89b-12d3-a456-426614174000"),
        (#""correlation_id": "123e4567-e89b-12d3-a456-42661417400g""#, "correlation_id", "must be a UUID like 123e4567-e89b-12d3-a456-426614174000"),
        (#""correlation_id": "123e4567e89b-12d3-a456-426614174000-""#, "correlation_id", "must be a UUID like 123e4567-e89b-12d3-a456-426614174000"),
        (#""time": "2021-01-22 18:20:42""#, "time", "must be an ISO 8601 date-time like 2021-01-22T18:20:42.159246 (UTC unless it carries Z or an offset)"),
        (#""type": "view""#, "type", #"must be one of "serve", "solve""#),
        (#""type": null"#, "type", #"must be one of "serve", "solve""#),
        (#""site": """#, "site", "must be at least 1 character long"),
        (#""site": "abcdef""#, "site", "must be at most 5 characters long"),
        (#""score": -0.5"#, "score", "must be at least 0"),
        (#""score": 2"#, "score", "must be at most 1"),
        (#""score": "1""#, "score", "must be a number, not a string"),
        (#""attempt": 1.5"#, "attempt", "must be an integer, not a number"),
        (#""attempt": 0"#, "attempt", "must be at least 1"),
        (#""day": "2023-02-29""#, "day", "must be a date like 2021-01-22"),
        (#""day": 5"#, "day", "must be a string or null, not an integer"),
        (#""version": 2"#, "version", "must be 1"),
        (#""tags": []"#, "tags", "must have at least 1 item"),
        (#""tags": ["a", "b", "c", "d"]"#, "tags", "must have at most 3 items"),
        (#""tags": ["a", 1]"#, "tags[1]", "must be a string, not an integer"),
    ]

    @Test(arguments: violations)
    func eachViolationNamesItsFieldAndRule(overrides: String, field: String, message: String) throws {
        #expect(try schema(Self.eventSchema).validate(try event(overrides)) == JSONSchemaViolation(field: field, message: message))
    }

    @Test func theRootIsNamedDollar() throws {
        #expect(try violation(Self.eventSchema, "[1]") == JSONSchemaViolation(field: "$", message: "must be an object, not an array"))
        #expect(try violation(#"{"const": {"a": 1, "b": [1.0]}}"#, #"{"b": [1], "a": 1}"#) == nil)
        #expect(try violation(#"{"const": {"a": 1, "b": [1.0]}}"#, #"{"b": [1], "a": 1, "c": 2}"#)
            == JSONSchemaViolation(field: "$", message: #"must be {"a":1,"b":[1.0]}"#))
    }

    @Test func aMissingFieldIsReportedWhateverTheRestHolds() throws {
        let found = try violation(Self.eventSchema, #"{"correlation_id": "123e4567-e89b-12d3-a456-426614174000", "type": "serve"}"#)
        #expect(found == JSONSchemaViolation(field: "time", message: "is required"))
        #expect(found?.description == "time is required")
    }

    @Test func nestedArraysOfObjectsHaveIndexedPaths() throws {
        let events = #"{"events": [{"kind": "serve", "ts": 1}, {"kind": "solve", "ts": 2}, {"kind": "view", "ts": 3}]}"#
        let found = try violation(Self.batchSchema, events)
        #expect(found == JSONSchemaViolation(field: "events[2].kind", message: #"must be one of "serve", "solve""#))
        #expect(found?.description == #"events[2].kind must be one of "serve", "solve""#)
        #expect(try violation(Self.batchSchema, #"{"events": [{"kind": "serve", "ts": 1}, {"kind": "solve"}]}"#)
            == JSONSchemaViolation(field: "events[1].ts", message: "is required"))
        #expect(try violation(Self.batchSchema, #"{"events": [{"kind": "serve", "ts": 1.5}]}"#)
            == JSONSchemaViolation(field: "events[0].ts", message: "must be an integer, not a number"))
        #expect(try violation(Self.batchSchema, #"{"events": [{"kind": "serve", "ts": 1, "at": 2}]}"#)
            == JSONSchemaViolation(field: "events[0].at", message: "is not allowed (unknown field)"))
        let tooMany = "{\"events\": [" + Array(repeating: #"{"kind": "serve", "ts": 1}"#, count: 1001).joined(separator: ",") + "]}"
        #expect(try violation(Self.batchSchema, tooMany) == JSONSchemaViolation(field: "events", message: "must have at most 1000 items"))
        #expect(try violation(Self.batchSchema, #"{"events": {}}"#) == JSONSchemaViolation(field: "events", message: "must be an array, not an object"))
    }

    @Test func batchItemsCanBeCheckedOneByOne() throws {
        let batch = try schema(Self.batchSchema)
        let body = try JSONParser.parse(#"{"events": [{"kind": "serve", "ts": 1}, {"kind": "view", "ts": 2}]}"#)
        #expect(batch.validate(body, skippingItemsOf: "events") == nil)
        #expect(batch.validate(try JSONParser.parse(#"{"events": 1}"#), skippingItemsOf: "events")
            == JSONSchemaViolation(field: "events", message: "must be an array, not an integer"))
        #expect(batch.validate(try JSONParser.parse("{}"), skippingItemsOf: "events") == JSONSchemaViolation(field: "events", message: "is required"))
        let item = try #require(batch.itemSchema(of: "events"))
        #expect(item.name == "test.json#/properties/events/items")
        #expect(item.validate(try JSONParser.parse(#"{"kind": "view", "ts": 2}"#))
            == JSONSchemaViolation(field: "kind", message: #"must be one of "serve", "solve""#))
        guard case .object(let document) = try JSONParser.parse(Self.batchSchema), case .object(let properties)? = document["properties"],
              case .object(let events)? = properties["events"] else { Issue.record("not the batch schema"); return }
        #expect(item.document == events["items"])
        #expect(batch.itemSchema(of: "other") == nil)
        // Skipping leaves the schema itself alone.
        #expect(batch.validate(body) == JSONSchemaViolation(field: "events[1].kind", message: #"must be one of "serve", "solve""#))
    }

    @Test func theFirstViolationFollowsTheDocumentedOrder() throws {
        // Required fields come first, in the order `required` lists them, before unknown fields.
        #expect(try violation(Self.eventSchema, #"{"extra": 1, "type": "view"}"#) == JSONSchemaViolation(field: "correlation_id", message: "is required"))
        #expect(try violation(Self.eventSchema, #"{"extra": 1, "correlation_id": "123e4567-e89b-12d3-a456-426614174000"}"#)
            == JSONSchemaViolation(field: "time", message: "is required"))
        // Unknown fields come before the values of known ones.
        let validator = try schema(Self.eventSchema)
        #expect(validator.validate(try event(#""type": "view", "other": 0"#)) == JSONSchemaViolation(field: "other", message: "is not allowed (unknown field)"))
        // Then the fields in the body's order, not the schema's.
        #expect(validator.validate(try event(#""tags": [1], "site": """#)) == JSONSchemaViolation(field: "tags[0]", message: "must be a string, not an integer"))
        #expect(validator.validate(try event(#""site": "", "tags": [1]"#)) == JSONSchemaViolation(field: "site", message: "must be at least 1 character long"))
        // Within a value, type comes before everything else, and the bounds before the items.
        #expect(validator.validate(try event(#""tags": "a""#)) == JSONSchemaViolation(field: "tags", message: "must be an array, not a string"))
        #expect(validator.validate(try event(#""tags": [1, 2, 3, 4]"#)) == JSONSchemaViolation(field: "tags", message: "must have at most 3 items"))
    }

    @Test func unsupportedKeywordsAndFormatsFailTheLoad() throws {
        let pattern = try loadError(#"{"properties": {"time": {"type": "string", "pattern": "^2"}}}"#)
        #expect(pattern?.schema == "test.json")
        #expect(pattern?.location == "properties.time")
        #expect(pattern?.message == #"unsupported keyword "pattern""#)
        #expect(pattern?.description == #"test.json: unsupported keyword "pattern" at properties.time"#)
        #expect(try loadError(#"{"type": "object", "oneOf": []}"#)?.description == #"test.json: unsupported keyword "oneOf" at $"#)
        #expect(try loadError(#"{"properties": {"events": {"items": {"properties": {"email": {"format": "email"}}}}}}"#)?.description
            == #"test.json: unsupported format "email" (supported: "uuid", "date-time", "date") at properties.events.items.properties.email"#)
        #expect(try loadError(#"{"additionalProperties": {"type": "string"}}"#)?.message
            == #""additionalProperties" must be true or false (schemas are not supported)"#)
        #expect(try loadError(#"{"items": [{"type": "string"}]}"#)?.message == #""items" must be one schema object (arrays of schemas are not supported)"#)
        #expect(try loadError(#"{"type": "text"}"#)?.message
            == #""type" must be one of "object", "array", "string", "integer", "number", "boolean", "null", or an array of them"#)
        #expect(try loadError(#"{"maxLength": -1}"#)?.message == #""maxLength" must be a non-negative integer"#)
        #expect(try loadError(#"{"minimum": "0"}"#)?.message == #""minimum" must be a number"#)
        #expect(try loadError(#"{"required": ["a", 1]}"#)?.message == #""required" must be an array of field names"#)
        #expect(try loadError(#"{"enum": []}"#)?.message == #""enum" must be a non-empty array"#)
        #expect(try loadError(#"{"properties": {"a": true}}"#)?.description == "test.json: a schema must be an object, not a boolean at properties.a")
    }

    @Test func schemaFilesLoadWithTheirPathInErrors() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("JSONSchemaTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let good = directory.appendingPathComponent("event.json").path
        try Self.eventSchema.write(toFile: good, atomically: true, encoding: .utf8)
        let loaded = try JSONSchema.load(path: good)
        #expect(loaded.name == good)
        #expect(loaded.document == (try JSONParser.parse(Self.eventSchema)))

        let broken = directory.appendingPathComponent("broken.json").path
        try #"{"type": }"#.write(toFile: broken, atomically: true, encoding: .utf8)
        let notJSON = #expect(throws: JSONSchemaError.self) { try JSONSchema.load(path: broken) }
        #expect(notJSON?.location == nil)
        #expect(notJSON?.description.hasPrefix("\(broken): not valid JSON: ") == true)

        let missing = directory.appendingPathComponent("missing.json").path
        let unreadable = #expect(throws: JSONSchemaError.self) { try JSONSchema.load(path: missing) }
        #expect(unreadable?.description == "\(missing): cannot read the file: no such file or not readable")
    }
}
