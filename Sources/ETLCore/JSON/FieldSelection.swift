/// Which parts of a record a pipeline reads: everything, or some keys of an object and, for each,
/// which parts of its value. Arrays are transparent: a selection applies to each element.
///
/// The runner works it out backwards from what the sink writes through every transform, and hands
/// it to the source: a source may drop the rest, and its parser need not decode it. Shopify line
/// items carry some 25 fields of which the top-products pipeline reads 3.
public indirect enum FieldSelection: Sendable, Equatable, CustomStringConvertible {
    case everything
    /// These keys only; a key's selection says what is read of its value.
    case keys([String: FieldSelection])

    /// Nothing of the value is read, though the value itself (for example how many elements an
    /// array has) may matter.
    public static let nothing = FieldSelection.keys([:])

    /// `selection` placed under `path`: `.at(a.b, s)` is `{a: {b: s}}`.
    public static func at(_ path: FieldPath, _ selection: FieldSelection) -> FieldSelection {
        path.keys.reversed().reduce(selection) { .keys([$1: $0]) }
    }

    /// What is read of the value at `key`; `nil` when nothing is.
    public subscript(key: String) -> FieldSelection? {
        switch self {
        case .everything: .everything
        case .keys(let keys): keys[key]
        }
    }

    /// Every part that either selection reads.
    public func union(_ other: FieldSelection) -> FieldSelection {
        guard case .keys(let mine) = self, case .keys(let theirs) = other else { return .everything }
        return .keys(mine.merging(theirs) { $0.union($1) })
    }

    /// The keys read, without the ones in `removed`; for a transform that replaces those keys.
    public func removing(_ removed: String) -> FieldSelection {
        guard case .keys(var keys) = self else { return self }
        keys[removed] = nil
        return .keys(keys)
    }

    /// Like `{id, line_items: {title, quantity}}`, keys sorted; `*` for everything.
    public var description: String {
        switch self {
        case .everything:
            return "*"
        case .keys(let keys):
            let parts = keys.sorted { $0.key < $1.key }.map { $0.value == .everything ? $0.key : "\($0.key): \($0.value)" }
            return "{" + parts.joined(separator: ", ") + "}"
        }
    }
}
