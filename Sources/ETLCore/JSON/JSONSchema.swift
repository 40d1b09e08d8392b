import Foundation

/// A JSON Schema that HTTP ingest bodies are checked against: a subset of the draft 2020-12 and
/// draft-07 keywords, whose meaning is the standard one.
///
/// - Annotations, ignored: `$schema`, `$id`, `title`, `description`, `$comment`, `examples`.
/// - Any value: `type` (one name or an array of `object`, `array`, `string`, `integer`, `number`,
///   `boolean`, `null`; `integer` also takes a number without a fraction, `number` takes integers),
///   `enum`, `const` (numbers compare by value, objects whatever their key order).
/// - Strings: `format` (`uuid`, `date-time` as `UTCTimestamp(parsing:)` reads it, `date` as a real
///   `YYYY-MM-DD`), `minLength`, `maxLength` (counted in Unicode scalars, as the standard says).
/// - Numbers: `minimum`, `maximum` (inclusive).
/// - Objects: `properties`, `required`, `additionalProperties` (`true` or `false` only).
/// - Arrays: `items` (one schema for every item), `minItems`, `maxItems`.
///
/// Any other keyword, and an unknown format, fails the load: a schema never enforces less than it
/// says. Like the standard, a keyword for one kind of value ignores the others (`minLength` passes
/// a number); `type` is what rejects them.
public struct JSONSchema: Sendable {
    public let name: String
    /// The schema as written, to serve verbatim.
    public let document: JSONValue
    private let root: Node

    public init(_ value: JSONValue, name: String) throws(JSONSchemaError) {
        self.name = name
        document = value
        do throws(LoadProblem) {
            root = try Node(value, at: "$")
        } catch {
            throw JSONSchemaError(schema: name, location: error.location, message: error.message)
        }
    }

    private init(name: String, document: JSONValue, root: Node) {
        self.name = name
        self.document = document
        self.root = root
    }

    /// Reads a schema file; the schema's name is the path.
    public static func load(path: String) throws(JSONSchemaError) -> JSONSchema {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw JSONSchemaError(schema: path, location: nil, message: "cannot read the file: no such file or not readable")
        }
        let value: JSONValue
        do {
            value = try JSONParser.parse(data)
        } catch {
            throw JSONSchemaError(schema: path, location: nil, message: "not valid JSON: \(error)")
        }
        return try JSONSchema(value, name: path)
    }

    /// Whether the text is a UUID as the `uuid` format means it: 8-4-4-4-12 hex digits, either case.
    public static func isUUID(_ text: some StringProtocol) -> Bool {
        text.utf8.count == 36 && text.utf8.enumerated().allSatisfy { index, byte in
            // `| 0x20` lowercases A-F (and maps no other byte into a-f).
            [8, 13, 18, 23].contains(index)
                ? byte == UInt8(ascii: "-")
                : byte &- UInt8(ascii: "0") < 10 || (byte | 0x20) &- UInt8(ascii: "a") < 6
        }
    }

    /// The first violation, or `nil` when the schema accepts the value. A value's checks run in
    /// this order: `type`, `const`, `enum`; for a string `format`, `minLength`, `maxLength`; for a
    /// number `minimum`, `maximum`; for an object `required` (in its order), unknown fields when
    /// `additionalProperties` is false, then each field in the value's order; for an array
    /// `minItems`, `maxItems`, then each item in order.
    public func validate(_ value: JSONValue) -> JSONSchemaViolation? {
        Self.violation(root.check(value))
    }

    /// `validate` without the items of the array at `key`, for a batch body whose items are each
    /// checked on their own against `itemSchema(of: key)`. The array itself is still checked
    /// (`type`, `minItems`, `maxItems`).
    public func validate(_ value: JSONValue, skippingItemsOf key: String) -> JSONSchemaViolation? {
        var envelope = root
        envelope.properties[key]?.items = nil
        return Self.violation(envelope.check(value))
    }

    /// The `items` schema of the property `key` (named `<name>#/properties/<key>/items`, its paths
    /// relative to an item); `nil` when the schema declares none.
    public func itemSchema(of key: String) -> JSONSchema? {
        guard let items = root.properties[key]?.items, case .object(let schema) = document,
              case .object(let properties)? = schema["properties"], case .object(let property)? = properties[key],
              let itemDocument = property["items"]
        else { return nil }
        return JSONSchema(name: "\(name)#/properties/\(key)/items", document: itemDocument, root: items.node)
    }

    private static func violation(_ failure: Failure?) -> JSONSchemaViolation? {
        guard let failure else { return nil }
        var field = ""
        for step in failure.reversedPath.reversed() {
            switch step {
            case .key(let key): field += field.isEmpty ? key : "." + key
            case .index(let index): field += "[\(index)]"
            }
        }
        return JSONSchemaViolation(field: field.isEmpty ? "$" : field, message: failure.message)
    }
}

/// A value that a schema refuses: where, and why, in words for the API client.
public struct JSONSchemaViolation: Sendable, Equatable, CustomStringConvertible {
    /// The path of the offending value, such as `time` or `events[3].ts`; `$` for the whole value.
    /// For a missing required field, the path it should have.
    public let field: String
    public let message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field) \(message)" }
}

/// A schema that cannot be loaded.
public struct JSONSchemaError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The schema's name: the path of its file when it was loaded from one.
    public let schema: String
    /// Where in the schema, such as `properties.time` or `$`; `nil` when the file itself is the problem.
    public let location: String?
    public let message: String

    public var description: String {
        location.map { "\(schema): \(message) at \($0)" } ?? "\(schema): \(message)"
    }
}

// MARK: - Loaded schemas

private struct LoadProblem: Error {
    let location: String
    let message: String
}

/// A violation on its way up: each level appends its step, so the path costs nothing until a value fails.
private struct Failure {
    enum Step { case key(String), index(Int) }

    var reversedPath: [Step]
    let message: String
}

/// The `items` schema, boxed: a struct cannot hold itself.
private final class ItemSchema: Sendable {
    let node: Node

    init(_ node: Node) { self.node = node }
}

private enum Kind: String, CaseIterable {
    case object, array, string, integer, number, boolean, null

    init(of value: JSONValue) {
        switch value {
        case .null: self = .null
        case .bool: self = .boolean
        case .int: self = .integer
        case .double: self = .number
        case .string: self = .string
        case .array: self = .array
        case .object: self = .object
        }
    }

    func accepts(_ value: JSONValue) -> Bool {
        switch (self, value) {
        case (.integer, .double(let number)): number.isFinite && number == number.rounded()
        case (.number, .int): true
        default: Kind(of: value) == self
        }
    }

    var phrase: String {
        switch self {
        case .object, .array, .integer: "an \(rawValue)"
        case .string, .number, .boolean: "a \(rawValue)"
        case .null: "null"
        }
    }
}

private enum Format: String, CaseIterable {
    case uuid
    case dateTime = "date-time"
    case date

    func accepts(_ text: String) -> Bool {
        switch self {
        case .uuid:
            return JSONSchema.isUUID(text)
        case .dateTime: return UTCTimestamp(parsing: text) != nil
        case .date: return UTCTimestamp.parseDate(text) != nil
        }
    }

    var message: String {
        switch self {
        case .uuid: "must be a UUID like 123e4567-e89b-12d3-a456-426614174000"
        case .dateTime: "must be an ISO 8601 date-time like 2021-01-22T18:20:42.159246 (UTC unless it carries Z or an offset)"
        case .date: "must be a date like 2021-01-22"
        }
    }
}

private struct Node: Sendable {
    var types: [Kind]?
    var const: JSONValue?
    var enumValues: [JSONValue]?
    var format: Format?
    var minLength: Int?
    var maxLength: Int?
    var minimum: JSONValue?
    var maximum: JSONValue?
    var required: [String] = []
    var properties: [String: Node] = [:]
    var additionalProperties = true
    var items: ItemSchema?
    var minItems: Int?
    var maxItems: Int?

    /// Reads the schema object at `location` (`$`, `properties.events.items`), keyword by keyword.
    init(_ value: JSONValue, at location: String) throws(LoadProblem) {
        guard case .object(let object) = value else {
            throw LoadProblem(location: location, message: "a schema must be an object, not \(Kind(of: value).phrase)")
        }
        func problem(_ message: String) -> LoadProblem { LoadProblem(location: location, message: message) }
        func count(_ keyword: String, _ value: JSONValue) throws(LoadProblem) -> Int {
            guard let count = Node.nonNegativeInteger(value) else { throw problem("\"\(keyword)\" must be a non-negative integer") }
            return count
        }
        func number(_ keyword: String, _ value: JSONValue) throws(LoadProblem) -> JSONValue {
            guard Kind.number.accepts(value) else { throw problem("\"\(keyword)\" must be a number") }
            return value
        }
        let below = location == "$" ? "" : location + "."
        for field in object.fields {
            switch (field.key, field.value) {
            case ("$schema", _), ("$id", _), ("title", _), ("description", _), ("$comment", _), ("examples", _):
                break
            case ("type", let value):
                let names: [JSONValue] = if case .array(let names) = value { names } else { [value] }
                let kinds = names.compactMap { name -> Kind? in
                    guard case .string(let text) = name else { return nil }
                    return Kind(rawValue: text)
                }
                guard !kinds.isEmpty, kinds.count == names.count else {
                    let choices = Kind.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
                    throw problem("\"type\" must be one of \(choices), or an array of them")
                }
                types = kinds
            case ("const", let value):
                const = value
            case ("enum", .array(let values)) where !values.isEmpty:
                enumValues = values
            case ("enum", _):
                throw problem("\"enum\" must be a non-empty array")
            case ("format", .string(let name)):
                guard let known = Format(rawValue: name) else {
                    let choices = Format.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
                    throw problem("unsupported format \"\(name)\" (supported: \(choices))")
                }
                format = known
            case ("format", _):
                throw problem("\"format\" must be a string")
            case ("minLength", let value): minLength = try count(field.key, value)
            case ("maxLength", let value): maxLength = try count(field.key, value)
            case ("minItems", let value): minItems = try count(field.key, value)
            case ("maxItems", let value): maxItems = try count(field.key, value)
            case ("minimum", let value): minimum = try number(field.key, value)
            case ("maximum", let value): maximum = try number(field.key, value)
            case ("required", .array(let names)):
                required = try names.map { name throws(LoadProblem) in
                    guard case .string(let text) = name else { throw problem("\"required\" must be an array of field names") }
                    return text
                }
            case ("required", _):
                throw problem("\"required\" must be an array of field names")
            case ("properties", .object(let schemas)):
                for schema in schemas.fields {
                    properties[schema.key] = try Node(schema.value, at: "\(below)properties.\(schema.key)")
                }
            case ("properties", _):
                throw problem("\"properties\" must be an object of schemas")
            case ("additionalProperties", .bool(let allowed)):
                additionalProperties = allowed
            case ("additionalProperties", _):
                throw problem("\"additionalProperties\" must be true or false (schemas are not supported)")
            case ("items", .object):
                items = ItemSchema(try Node(field.value, at: "\(below)items"))
            case ("items", _):
                throw problem("\"items\" must be one schema object (arrays of schemas are not supported)")
            default:
                throw problem("unsupported keyword \"\(field.key)\"")
            }
        }
    }

    func check(_ value: JSONValue) -> Failure? {
        func fail(_ message: String) -> Failure { Failure(reversedPath: [], message: message) }
        if let types, !types.contains(where: { $0.accepts(value) }) {
            let phrases = types.map(\.phrase)
            let expected = phrases.count == 1 ? phrases[0] : phrases.dropLast().joined(separator: ", ") + " or " + phrases.last!
            return fail("must be \(expected), not \(Kind(of: value).phrase)")
        }
        if let const, !Node.equal(value, const) {
            return fail("must be \(JSONWriter.string(const))")
        }
        if let enumValues, !enumValues.contains(where: { Node.equal(value, $0) }) {
            return fail("must be one of " + enumValues.map(JSONWriter.string).joined(separator: ", "))
        }
        switch value {
        case .string(let text):
            if let format, !format.accepts(text) { return fail(format.message) }
            let length = text.unicodeScalars.count
            if let minLength, length < minLength { return fail("must be at least \(Node.counted(minLength, "character")) long") }
            if let maxLength, length > maxLength { return fail("must be at most \(Node.counted(maxLength, "character")) long") }
        case .int, .double:
            if let minimum, Node.isLess(value, than: minimum) { return fail("must be at least \(JSONWriter.string(minimum))") }
            if let maximum, Node.isLess(maximum, than: value) { return fail("must be at most \(JSONWriter.string(maximum))") }
        case .object(let object):
            for key in required where object[key] == nil {
                return Failure(reversedPath: [.key(key)], message: "is required")
            }
            if !additionalProperties, let unknown = object.keys.first(where: { properties[$0] == nil }) {
                return Failure(reversedPath: [.key(unknown)], message: "is not allowed (unknown field)")
            }
            for field in object.fields {
                if var failure = properties[field.key]?.check(field.value) {
                    failure.reversedPath.append(.key(field.key))
                    return failure
                }
            }
        case .array(let elements):
            if let minItems, elements.count < minItems { return fail("must have at least \(Node.counted(minItems, "item"))") }
            if let maxItems, elements.count > maxItems { return fail("must have at most \(Node.counted(maxItems, "item"))") }
            if let items {
                for (index, element) in elements.enumerated() {
                    if var failure = items.node.check(element) {
                        failure.reversedPath.append(.index(index))
                        return failure
                    }
                }
            }
        case .null, .bool:
            break
        }
        return nil
    }

    private static func nonNegativeInteger(_ value: JSONValue) -> Int? {
        switch value {
        case .int(let count) where count >= 0: Int(count)
        case .double(let count) where count >= 0: Int(exactly: count)
        default: nil
        }
    }

    private static func counted(_ count: Int, _ noun: String) -> String {
        "\(count) \(noun)\(count == 1 ? "" : "s")"
    }

    /// Integers compare exactly, anything else as `Double`.
    private static func isLess(_ lhs: JSONValue, than rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.int(let left), .int(let right)): left < right
        default: double(lhs) < double(rhs)
        }
    }

    private static func double(_ value: JSONValue) -> Double {
        switch value {
        case .int(let number): Double(number)
        case .double(let number): number
        default: .nan
        }
    }

    /// JSON equality as the standard means it: `1` equals `1.0`, objects ignore key order.
    private static func equal(_ lhs: JSONValue, _ rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.int(let integer), .double(let number)), (.double(let number), .int(let integer)):
            Int64(exactly: number) == integer
        case (.array(let left), .array(let right)):
            left.count == right.count && zip(left, right).allSatisfy(equal)
        case (.object(let left), .object(let right)):
            left.fields.count == right.fields.count
                && left.fields.allSatisfy { field in right[field.key].map { equal(field.value, $0) } ?? false }
        default:
            lhs == rhs
        }
    }
}
