/// A JSON value as rows flow through a pipeline.
///
/// Objects keep their keys in document order, so that a `select` writes columns in the order the
/// pipeline file names them and output is byte-for-byte reproducible. Integers stay `Int64` (Shopify
/// ids exceed what a `Double` holds exactly).
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// The value at a dotted path such as `line_item.title`; `nil` when any step is missing.
    public subscript(path path: FieldPath) -> JSONValue? {
        var current = self
        for key in path.keys {
            guard case .object(let object) = current, let next = object[key] else { return nil }
            current = next
        }
        return current
    }

    /// A short name of the value's kind, for error messages.
    public var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .int: "integer"
        case .double: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

/// A JSON object with its keys in insertion order. Lookups are linear: rows are small.
public struct JSONObject: Sendable, Equatable {
    /// A struct rather than a tuple: arrays of tuples cost a runtime metadata lookup per object,
    /// which showed in profiles of page parsing.
    public struct Field: Sendable, Equatable {
        public var key: String
        public var value: JSONValue
    }

    public private(set) var fields: [Field]

    public init(_ fields: [(key: String, value: JSONValue)] = []) {
        self.fields = fields.map { Field(key: $0.key, value: $0.value) }
    }

    public init(minimumCapacity: Int) {
        fields = []
        fields.reserveCapacity(minimumCapacity)
    }

    public var isEmpty: Bool { fields.isEmpty }
    public var keys: [String] { fields.map(\.key) }

    /// Reads a key; setting replaces the value in place or appends the key, setting `nil` removes it.
    public subscript(key: String) -> JSONValue? {
        get { fields.first(where: { $0.key == key })?.value }
        set {
            let index = fields.firstIndex(where: { $0.key == key })
            switch (index, newValue) {
            case (let index?, let value?): fields[index].value = value
            case (let index?, nil): fields.remove(at: index)
            case (nil, let value?): fields.append(Field(key: key, value: value))
            case (nil, nil): break
            }
        }
    }

    /// Appends without checking for an existing key; for builders that know keys are distinct.
    public mutating func appendUnchecked(_ key: String, _ value: JSONValue) {
        fields.append(Field(key: key, value: value))
    }
}

/// A dotted path into a row, such as `line_item.title`.
public struct FieldPath: Sendable, Hashable, CustomStringConvertible {
    public let keys: [String]

    /// Parses `a.b.c`; `nil` when the text is empty or has an empty step.
    public init?(_ text: String) {
        let keys = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !text.isEmpty, !keys.contains(where: \.isEmpty) else { return nil }
        self.keys = keys
    }

    private init(keys: [String]) {
        self.keys = keys
    }

    /// The path below its first key (`b.c` of `a.b.c`); `nil` for a one-key path.
    public func droppingFirst() -> FieldPath? {
        keys.count > 1 ? FieldPath(keys: Array(keys.dropFirst())) : nil
    }

    public var description: String { keys.joined(separator: ".") }
}
