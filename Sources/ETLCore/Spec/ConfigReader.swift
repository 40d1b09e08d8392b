import Foundation
import Synchronization

/// One problem in a pipeline file, located by its JSON path (`$.transform[1].field`).
public struct Diagnostic: Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}

/// Collects diagnostics while a pipeline file is read, so that every problem is reported at once.
public final class DiagnosticLog: Sendable {
    private let items = Mutex<[Diagnostic]>([])

    public init() {}

    public func report(_ diagnostic: Diagnostic) {
        items.withLock { $0.append(diagnostic) }
    }

    public var diagnostics: [Diagnostic] { items.withLock { $0 } }
}

/// What reading a config needs besides the JSON: the environment for `${VAR}`, where problems go,
/// where secret values are registered so that logs and errors never show them, and the folder of
/// the pipeline file, which files it names are relative to.
public struct ConfigContext: Sendable {
    public let environment: [String: String]
    public let diagnostics: DiagnosticLog
    public let redactor: Redactor
    /// The pipeline file's folder; nil when the config is not read from a file (paths then stay
    /// relative to the current directory).
    public let pipelineDirectory: String?
    /// Collects every key a factory reads, with its default: the component's documentation.
    let options: OptionLog?

    public init(environment: [String: String], diagnostics: DiagnosticLog = DiagnosticLog(), redactor: Redactor, pipelineDirectory: String? = nil) {
        self.init(environment: environment, diagnostics: diagnostics, redactor: redactor, pipelineDirectory: pipelineDirectory, options: nil)
    }

    init(environment: [String: String], diagnostics: DiagnosticLog, redactor: Redactor, pipelineDirectory: String? = nil, options: OptionLog?) {
        self.environment = environment
        self.diagnostics = diagnostics
        self.redactor = redactor
        self.pipelineDirectory = pipelineDirectory
        self.options = options
    }
}

/// One key a component reads from its stage object, as its factory declares it: the factory is
/// the one place a default is written, and `ComponentRegistry.options` reads them back from it
/// (the README's component table is checked against them by a test).
public struct ConfigOption: Sendable, Equatable, CustomStringConvertible {
    public let key: String
    public let isRequired: Bool
    public let isSecret: Bool
    /// The default, as the file would write it; nil when there is none.
    public let defaultValue: String?

    public var description: String {
        "\(key)\(isRequired ? " (required)" : "")\(isSecret ? " (secret)" : "")\(defaultValue.map { " = \($0)" } ?? "")"
    }
}

final class OptionLog: Sendable {
    private let items = Mutex<[ConfigOption]>([])

    func record(_ option: ConfigOption) {
        items.withLock { options in
            if let index = options.firstIndex(where: { $0.key == option.key }) {
                // A typed accessor after `value(_:)` knows more: keep what each told.
                let known = options[index]
                options[index] = ConfigOption(key: option.key, isRequired: known.isRequired || option.isRequired, isSecret: known.isSecret || option.isSecret,
                                              defaultValue: option.defaultValue ?? known.defaultValue)
            } else {
                options.append(option)
            }
        }
    }

    var options: [ConfigOption] { items.withLock { $0 } }
}

extension ComponentRegistry {
    /// The keys each component reads, with their defaults, by kind (`extract`, `transform`, `load`)
    /// and type: read from the factories themselves, on an empty stage object.
    public func options() -> [(stage: String, type: String, options: [ConfigOption])] {
        func describe<Component>(_ stage: String, _ factories: [String: Factory<Component>]) -> [(stage: String, type: String, options: [ConfigOption])] {
            factories.keys.sorted().map { type in
                let log = OptionLog()
                let context = ConfigContext(environment: [:], diagnostics: DiagnosticLog(), redactor: Redactor(), options: log)
                var reader = ConfigReader(object: JSONObject(), path: "$", context: context)
                _ = factories[type]!(&reader)
                return (stage, type, log.options)
            }
        }
        return describe("extract", sources) + describe("transform", transforms) + describe("load", sinks)
    }
}

/// A secret value and where the user sets it (`SHOPIFY_ACCESS_TOKEN`, or `$.extract.access_token`
/// when written in the file), so that errors can say what to check without showing the value.
public struct Secret: Sendable {
    public let value: String
    public let origin: String
}

/// Reads one JSON object of a pipeline file on behalf of a component factory.
///
/// Each accessor returns `nil` (or the default) on a problem and records a located diagnostic, so a
/// factory reads all its keys and the whole file is checked in one pass. `finish()` then reports
/// keys nobody asked for, which catches typos. Factories must therefore read every key they know
/// before deciding anything.
public struct ConfigReader {
    public let path: String
    public let context: ConfigContext
    private let object: JSONObject
    private var knownKeys: [String] = []

    public init(object: JSONObject, path: String, context: ConfigContext) {
        self.object = object
        self.path = path
        self.context = context
    }

    public func report(_ message: String, at key: String? = nil) {
        context.diagnostics.report(Diagnostic(path: key.map { Self.childPath(path, $0) } ?? path, message: message))
    }

    static func childPath(_ parent: String, _ key: String) -> String {
        key.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" } ? "\(parent).\(key)" : "\(parent)[\"\(key)\"]"
    }

    private func note(_ key: String, required: Bool = false, secret: Bool = false, default defaultValue: String? = nil) {
        context.options?.record(ConfigOption(key: key, isRequired: required, isSecret: secret, defaultValue: defaultValue))
    }

    /// The raw value of a key, marking it known. Missing required keys are reported.
    public mutating func value(_ key: String, required: Bool = false) -> JSONValue? {
        knownKeys.append(key)
        note(key, required: required)
        guard let value = object[key], value != .null else {
            if required { report("missing required key \"\(key)\"") }
            return nil
        }
        return value
    }

    public mutating func string(_ key: String, required: Bool = false) -> String? {
        guard let value = value(key, required: required) else { return nil }
        guard case .string(let raw) = value else {
            report("expected a string, found \(value.kindName)", at: key)
            return nil
        }
        return interpolate(raw, at: Self.childPath(path, key))
    }

    public mutating func string(_ key: String, default defaultValue: String) -> String {
        note(key, default: defaultValue)
        return string(key) ?? defaultValue
    }

    /// A file or folder the pipeline file names: a relative path is relative to the pipeline
    /// file's folder, so that the file works from any current directory.
    public mutating func filePath(_ key: String, required: Bool = false) -> String? {
        guard let path = string(key, required: required) else { return nil }
        guard !path.hasPrefix("/"), let directory = context.pipelineDirectory else { return path }
        return URL(fileURLWithPath: directory).appendingPathComponent(path).standardizedFileURL.path
    }

    /// A string that must never be shown: it is registered with the redactor as soon as it is read.
    public mutating func secret(_ key: String, required: Bool = false) -> Secret? {
        note(key, secret: true)
        guard let value = string(key, required: required) else { return nil }
        context.redactor.register(value)
        let variables = Self.variableNames(in: object[key])
        return Secret(value: value, origin: variables.isEmpty ? Self.childPath(path, key) : variables.joined(separator: ", "))
    }

    /// The `${NAME}` references in a raw string value.
    private static func variableNames(in value: JSONValue?) -> [String] {
        guard case .string(let raw)? = value else { return [] }
        return raw.components(separatedBy: "${").dropFirst().compactMap { part in
            part.firstIndex(of: "}").map { String(part[..<$0].components(separatedBy: ":-")[0]) }
        }
    }

    public mutating func choice(_ key: String, of choices: [String], default defaultValue: String) -> String {
        note(key, default: defaultValue)
        return choice(key, of: choices, required: false) ?? defaultValue
    }

    /// One of `choices`, or nil (reported when missing and `required`, or not one of them).
    public mutating func choice(_ key: String, of choices: [String], required: Bool) -> String? {
        guard let chosen = string(key, required: required) else { return nil }
        guard choices.contains(chosen) else {
            report("\"\(chosen)\" is not one of \(choices.map { "\"\($0)\"" }.joined(separator: ", "))", at: key)
            return nil
        }
        return chosen
    }

    /// An integer, also accepted as a string so that it can come from `${VAR}`.
    public mutating func int(_ key: String, default defaultValue: Int, in range: ClosedRange<Int>) -> Int {
        note(key, default: String(defaultValue))
        guard let value = value(key) else { return defaultValue }
        let integer: Int?
        switch value {
        case .int(let number): integer = Int(exactly: number)
        case .string(let text): integer = interpolate(text, at: Self.childPath(path, key)).flatMap { Int($0) }
        default: integer = nil
        }
        guard let integer else {
            report("expected an integer, found \(value.kindName)", at: key)
            return defaultValue
        }
        guard range.contains(integer) else {
            report("\(integer) is out of range \(range.lowerBound)...\(range.upperBound)", at: key)
            return defaultValue
        }
        return integer
    }

    /// A boolean, also accepted as the string `"true"` or `"false"` so that it can come from `${VAR}`.
    public mutating func bool(_ key: String, default defaultValue: Bool) -> Bool {
        note(key, default: String(defaultValue))
        guard let value = value(key) else { return defaultValue }
        switch value {
        case .bool(let flag):
            return flag
        case .string(let text):
            switch interpolate(text, at: Self.childPath(path, key))?.lowercased() {
            case "true"?: return true
            case "false"?: return false
            case nil: return defaultValue
            case let other?:
                report("expected true or false, found \"\(other)\"", at: key)
                return defaultValue
            }
        default:
            report("expected true or false, found \(value.kindName)", at: key)
            return defaultValue
        }
    }

    public mutating func fieldPath(_ key: String, required: Bool = false) -> FieldPath? {
        guard let text = string(key, required: required) else { return nil }
        guard let fieldPath = FieldPath(text) else {
            report("\"\(text)\" is not a field path (use names joined by dots, like \"line_item.title\")", at: key)
            return nil
        }
        return fieldPath
    }

    /// An object whose values are strings, in file order (e.g. `select`'s output name → source path).
    public mutating func stringMap(_ key: String, required: Bool = false) -> [(key: String, value: String)]? {
        guard let value = value(key, required: required) else { return nil }
        guard case .object(let object) = value, !object.isEmpty else {
            report("expected a non-empty object of strings, found \(value.kindName == "object" ? "an empty object" : value.kindName)", at: key)
            return nil
        }
        var result: [(key: String, value: String)] = []
        let mapPath = Self.childPath(path, key)
        for field in object.fields {
            guard case .string(let text) = field.value else {
                context.diagnostics.report(Diagnostic(path: Self.childPath(mapPath, field.key), message: "expected a string, found \(field.value.kindName)"))
                continue
            }
            guard let resolved = interpolate(text, at: Self.childPath(mapPath, field.key)) else { continue }
            result.append((field.key, resolved))
        }
        return result
    }

    /// An array of strings (e.g. a route's other paths); `nil` when absent or not one.
    public mutating func stringList(_ key: String, required: Bool = false) -> [String]? {
        guard let value = value(key, required: required) else { return nil }
        guard case .array(let items) = value else {
            report("expected an array of strings, found \(value.kindName)", at: key)
            return nil
        }
        let strings = items.compactMap { if case .string(let text) = $0 { text } else { nil } }
        guard strings.count == items.count else {
            report("expected an array of strings", at: key)
            return nil
        }
        return strings
    }

    /// A nested object, read by its own reader.
    public mutating func object(_ key: String, required: Bool = false) -> ConfigReader? {
        guard let value = value(key, required: required) else { return nil }
        guard case .object(let object) = value else {
            report("expected an object, found \(value.kindName)", at: key)
            return nil
        }
        return ConfigReader(object: object, path: Self.childPath(path, key), context: context)
    }

    /// A name that is safe to use as an SQL identifier: ASCII letters, digits and `_`, not
    /// starting with a digit (table and column names of the SQL source and sinks).
    public static func isPlainName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_") }
    }

    /// Reports every key that no accessor asked for, suggesting the closest known key.
    public func finish() {
        for key in object.keys where !knownKeys.contains(key) {
            let suggestion = knownKeys.min { editDistance($0, key) < editDistance($1, key) }
            if let suggestion, editDistance(suggestion, key) <= max(2, key.count / 3) {
                report("unknown key \"\(key)\" (did you mean \"\(suggestion)\"?)", at: key)
            } else {
                let known = knownKeys.map { "\"\($0)\"" }.joined(separator: ", ")
                report("unknown key \"\(key)\" (known keys: \(known))", at: key)
            }
        }
    }

    /// Replaces `${NAME}` and `${NAME:-default}` with environment values; a missing variable is
    /// reported by name and gives `nil`.
    func interpolate(_ text: String, at location: String) -> String? {
        guard text.contains("${") else { return text }
        var result = ""
        var rest = Substring(text)
        var ok = true
        while let start = rest.range(of: "${") {
            result += rest[..<start.lowerBound]
            guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
                context.diagnostics.report(Diagnostic(path: location, message: "unterminated \"${\" (write ${NAME})"))
                return nil
            }
            let reference = rest[start.upperBound..<end]
            let (name, fallback) = reference.firstRange(of: ":-").map {
                (String(reference[..<$0.lowerBound]), Optional(String(reference[$0.upperBound...])))
            } ?? (String(reference), nil)
            if let value = context.environment[name], !value.isEmpty {
                result += value
            } else if let fallback {
                result += fallback
            } else {
                context.diagnostics.report(Diagnostic(
                    path: location,
                    message: "environment variable \(name) is not set (export it or add it to .env)"))
                ok = false
            }
            rest = rest[rest.index(after: end)...]
        }
        result += rest
        return ok ? result : nil
    }
}

/// Levenshtein distance, for "did you mean" suggestions.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var previous = Array(0...b.count)
    for i in 1...max(a.count, 1) where !a.isEmpty {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...max(b.count, 1) where !b.isEmpty {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return a.isEmpty ? b.count : previous[b.count]
}
