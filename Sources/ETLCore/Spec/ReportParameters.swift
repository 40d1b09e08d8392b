/// A parameter of a report request, declared in the pipeline file: taken from the path
/// (`/v1/products/{product_id}/reviews`) or the query string, typed, checked before any query.
///
///     "parameters": {
///       "product_id": {"in": "path", "type": "string", "max_length": 64},
///       "from": {"type": "date"},
///       "to": {"type": "date", "not_before": "from"},
///       "site_id": {"type": "uuid", "repeated": true, "max_count": 100},
///       "days": {"type": "int", "min": 1, "max": 366, "default": 7}
///     }
public struct ReportParameter: Sendable, Equatable {
    public enum Location: String, Sendable { case path, query }

    public enum Kind: Sendable, Equatable {
        case string(maxLength: Int)
        case uuid
        /// `YYYY-MM-DD`, a real calendar date, optionally within bounds (inclusive).
        case date(min: String?, max: String?)
        case int(min: Int64, max: Int64)

        public var name: String {
            switch self {
            case .string: "string"
            case .uuid: "uuid"
            case .date: "date"
            case .int: "int"
            }
        }
    }

    public let name: String
    public let location: Location
    public let kind: Kind
    public let isRequired: Bool
    /// Given any number of times (up to `maxCount`), as a list.
    public let isRepeated: Bool
    public let maxCount: Int
    /// Used when the request does not give the parameter.
    public let defaultValue: ReportValue?
    /// Another date parameter this one may not be before (`to` not before `from`).
    public let notBefore: String?

    /// What values are allowed, for a 400's message.
    public var allowed: String {
        let one: String
        switch kind {
        case .string(let maxLength): one = "a string of 1 to \(maxLength) characters"
        case .uuid: one = "a UUID (8-4-4-4-12 hexadecimal digits)"
        case .date(let min, let max):
            one = "a date YYYY-MM-DD" + (min.map { " from \($0)" } ?? "") + (max.map { " up to \($0)" } ?? "")
        case .int(let min, let max): one = "an integer from \(min) to \(max)"
        }
        if isRepeated { return "\(one), given up to \(maxCount) times" }
        return location == .query ? "\(one), given at most once" : one
    }

    /// The typed value of the texts a request gave for this parameter (already percent-decoded),
    /// its default when none, or why they are not allowed.
    public func value(of texts: [String]) -> Result<ReportValue?, ReportParameterProblem> {
        if texts.isEmpty {
            if isRequired { return .failure(problem("\(name) is required: \(allowed)")) }
            return .success(defaultValue)
        }
        guard isRepeated || texts.count == 1 else { return .failure(problem("\(name) is given \(texts.count) times: \(allowed)")) }
        guard texts.count <= maxCount else { return .failure(problem("\(name) is given \(texts.count) times: \(allowed)")) }
        var values: [ReportValue] = []
        for text in texts {
            guard let value = single(text) else { return .failure(problem("\(name) must be \(allowed)")) }
            values.append(value)
        }
        return .success(isRepeated ? .list(values) : values[0])
    }

    private func problem(_ message: String) -> ReportParameterProblem {
        ReportParameterProblem(parameter: name, message: message, allowed: allowed)
    }

    private func single(_ text: String) -> ReportValue? {
        switch kind {
        case .string(let maxLength):
            return !text.isEmpty && text.count <= maxLength ? .string(text) : nil
        case .uuid:
            return JSONSchema.isUUID(text) ? .uuid(text.lowercased()) : nil
        case .date(let min, let max):
            guard Self.isDate(text), min.map({ text >= $0 }) ?? true, max.map({ text <= $0 }) ?? true else { return nil }
            return .date(text)
        case .int(let min, let max):
            guard let integer = Self.canonicalInteger(text), (min...max).contains(integer) else { return nil }
            return .int(integer)
        }
    }

    /// `-?[1-9][0-9]*` or `0`: no plus sign, no leading zero, no spaces; nil beyond Int64.
    public static func canonicalInteger(_ text: String) -> Int64? {
        let negative = text.hasPrefix("-")
        let digits = negative ? text.utf8.dropFirst() : text.utf8[...]
        guard let first = digits.first, digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
              first != UInt8(ascii: "0") || (digits.count == 1 && !negative)
        else { return nil }
        return Int64(text)
    }

    /// A real `YYYY-MM-DD` date of the proleptic Gregorian calendar, years 1900 to 2299 (the
    /// range both ClickHouse lines can hold as dates or compare as such).
    public static func isDate(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") else { return false }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for byte in bytes[range] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), (1900...2299).contains(year), (1...12).contains(month) else { return false }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        return (1...days).contains(day)
    }

    static func read(name: String, _ config: inout ConfigReader) -> ReportParameter? {
        let location = config.choice("in", of: ["path", "query"], default: "query")
        let type = config.choice("type", of: ["string", "uuid", "date", "int"], required: true)
        let repeated = config.bool("repeated", default: false)
        let maxCount = config.int("max_count", default: 100, in: 1...10_000)
        let maxLength = config.int("max_length", default: 256, in: 1...65_536)
        let minimum = config.value("min")
        let maximum = config.value("max")
        let defaultValue = config.value("default")
        let notBefore = config.string("not_before")
        var required = config.bool("required", default: false)
        guard ConfigReader.isPlainName(name), !["table", "limit"].contains(name) else {
            config.report("\"\(name)\" is not a usable parameter name (letters, digits and _; not table or limit)")
            return nil
        }
        if location == "path" {
            if repeated { config.report("a path parameter is given once: it cannot be repeated", at: "repeated") }
            if defaultValue != nil { config.report("a path parameter is always given: it has no default", at: "default") }
            required = true
        }
        let kind: Kind
        switch type {
        case "string": kind = .string(maxLength: maxLength)
        case "uuid": kind = .uuid
        case "date":
            func bound(_ value: JSONValue?, _ key: String) -> String? {
                guard let value else { return nil }
                guard case .string(let text) = value, isDate(text) else {
                    config.report("expected a date YYYY-MM-DD", at: key)
                    return nil
                }
                return text
            }
            kind = .date(min: bound(minimum, "min"), max: bound(maximum, "max"))
        case "int":
            func bound(_ value: JSONValue?, _ key: String, _ fallback: Int64) -> Int64 {
                guard let value else { return fallback }
                guard case .int(let integer) = value else {
                    config.report("expected an integer", at: key)
                    return fallback
                }
                return integer
            }
            kind = .int(min: bound(minimum, "min", Int64.min), max: bound(maximum, "max", Int64.max))
        default: return nil
        }
        if type != "int", type != "date", minimum != nil || maximum != nil {
            config.report("min and max bound int and date parameters only")
        }
        if notBefore != nil, type != "date" { config.report("not_before compares dates: this parameter is not one", at: "not_before") }
        let parameter = ReportParameter(name: name, location: location == "path" ? .path : .query, kind: kind, isRequired: required,
                                        isRepeated: repeated, maxCount: repeated ? maxCount : 1, defaultValue: nil, notBefore: notBefore)
        guard let defaultValue else { return parameter }
        let text: String? = switch defaultValue {
        case .string(let text): text
        case .int(let integer): String(integer)
        default: nil
        }
        guard let text, case .success(let value?) = parameter.value(of: [text]) else {
            config.report("the default is not \(parameter.allowed)", at: "default")
            return parameter
        }
        return ReportParameter(name: name, location: parameter.location, kind: kind, isRequired: false, isRepeated: repeated,
                               maxCount: parameter.maxCount, defaultValue: value, notBefore: notBefore)
    }
}

/// Why a request's parameter is refused: a 400 naming it and what is allowed.
public struct ReportParameterProblem: Error, Sendable, Equatable {
    public let parameter: String
    public let message: String
    public let allowed: String

    public init(parameter: String, message: String, allowed: String) {
        self.parameter = parameter
        self.message = message
        self.allowed = allowed
    }
}

/// A checked parameter value. The sink turns it into a typed literal of its own SQL; request text
/// never reaches a query any other way.
public enum ReportValue: Sendable, Hashable {
    case string(String)
    case int(Int64)
    /// `YYYY-MM-DD`, checked.
    case date(String)
    /// Lowercase 8-4-4-4-12, checked.
    case uuid(String)
    case list([ReportValue])
}

/// Checked values of one request: by parameter name, nil for an optional parameter not given.
public struct ReportArguments: Sendable, Hashable {
    public let values: [String: ReportValue]

    public init(_ values: [String: ReportValue] = [:]) {
        self.values = values
    }

    public static let none = ReportArguments()
}

extension ReportSpec {
    /// The arguments of one request, from the texts given per parameter name (percent-decoded;
    /// path parameters as one text each), or the first problem.
    public func arguments(_ texts: [String: [String]]) -> Result<ReportArguments, ReportParameterProblem> {
        var values: [String: ReportValue] = [:]
        for parameter in parameters {
            switch parameter.value(of: texts[parameter.name] ?? []) {
            case .success(let value): values[parameter.name] = value
            case .failure(let problem): return .failure(problem)
            }
        }
        for parameter in parameters {
            guard let other = parameter.notBefore, case .date(let date)? = values[parameter.name], case .date(let earlier)? = values[other] else { continue }
            if date < earlier {
                return .failure(ReportParameterProblem(parameter: parameter.name, message: "\(parameter.name) (\(date)) is before \(other) (\(earlier)): the range is empty",
                                                       allowed: "a date not before \(other)"))
            }
        }
        return .success(ReportArguments(values))
    }
}
