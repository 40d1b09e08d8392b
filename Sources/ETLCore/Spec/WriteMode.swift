import Foundation

/// How a run's rows reach the sink's live data, as dlt names its write dispositions. Declared in
/// the load stage (`"mode"`, with `"primary_key"` and `"keep"` for `merge`).
public enum WriteMode: Sendable, Equatable, CustomStringConvertible {
    /// Each run stages everything and swaps it in atomically when it completes.
    case replace
    /// Each checkpointed batch lands in the live data exactly once; nothing is swapped.
    case append
    /// Like `append`, but a row replaces the live row with the same primary key.
    case merge(primaryKey: [String], keep: MergeKeep)

    public static let names = ["replace", "append", "merge"]

    public var name: String {
        switch self {
        case .replace: "replace"
        case .append: "append"
        case .merge: "merge"
        }
    }

    public var description: String {
        guard case .merge(let key, let keep) = self else { return name }
        return "merge on \(key.joined(separator: ", ")), keeping the \(keep.rawValue)"
    }

    /// Reads `mode`, `primary_key` and `keep` of a load stage. Keys the mode does not use are errors.
    static func read(_ config: inout ConfigReader) -> WriteMode {
        let name = config.choice("mode", of: names, default: "replace")
        let keyValue = config.value("primary_key")
        let keepName = config.value("keep") == nil ? nil : config.choice("keep", of: MergeKeep.allCases.map(\.rawValue), default: "last")
        guard name == "merge" else {
            if keyValue != nil { config.report("primary_key is used by mode \"merge\" only", at: "primary_key") }
            if keepName != nil { config.report("keep is used by mode \"merge\" only", at: "keep") }
            return name == "append" ? .append : .replace
        }
        var key: [String] = []
        switch keyValue {
        case .string(let text)?:
            key = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        case .array(let items)?:
            key = items.compactMap { if case .string(let text) = $0 { text } else { nil } }
            if key.count != items.count { key = [] }
        default:
            break
        }
        if key.isEmpty || Set(key).count != key.count {
            config.report("mode \"merge\" needs \"primary_key\": a column name, or an array of distinct names", at: keyValue == nil ? nil : "primary_key")
        }
        return .merge(primaryKey: key, keep: MergeKeep(rawValue: keepName ?? "last") ?? .last)
    }
}

/// Which of two rows with one primary key a `merge` keeps: the one loaded last (default) or first.
public enum MergeKeep: String, Sendable, CaseIterable {
    case last, first
}
