/// The scalar types a value converts to: by `cast` steps, and by report fields that declare a type.
public enum ScalarType: String, CaseIterable, Sendable {
    case string, int, float, bool
}

extension JSONValue {
    /// This value as `type`, or nil when it does not convert; null stays null. Integers come from
    /// integral numbers and decimal strings (ClickHouse may quote 64-bit integers), booleans from
    /// `true`/`false` and 0/1 (SQLite has no boolean type), strings from any scalar.
    public func converted(to type: ScalarType) -> JSONValue? {
        switch (type, self) {
        case (_, .null): .null
        case (.string, .string): self
        case (.string, .int), (.string, .double), (.string, .bool): .string(JSONWriter.string(self))
        case (.int, .int): self
        case (.int, .double(let double)): Int64(exactly: double).map(JSONValue.int)
        case (.int, .string(let text)): Int64(text).map(JSONValue.int)
        case (.float, .int(let integer)): .double(Double(integer))
        case (.float, .double): self
        case (.float, .string(let text)): Double(text).flatMap { $0.isFinite ? JSONValue.double($0) : nil }
        case (.bool, .bool): self
        case (.bool, .string("true")): .bool(true)
        case (.bool, .string("false")): .bool(false)
        case (.bool, .int(let integer)) where integer == 0 || integer == 1: .bool(integer == 1)
        default: nil
        }
    }
}
