import ETLCore

/// How many rows of a ranked list a request asks for: its `limit.parameter` from the query string.
///
/// Strict on purpose: the value must be given at most once, in canonical decimal form (no sign, no
/// leading zero, no spaces, no exponent) and within 1...`maximumLimit`. Absent, it is
/// `defaultLimit`. Other query parameters are ignored, so cache-busting parameters do no harm.
struct LimitParameter {
    let name: String
    let defaultValue: Int
    let maximum: Int

    init(_ limit: ReportLimit) {
        name = limit.parameter
        defaultValue = limit.defaultCount
        maximum = limit.maximum
    }

    /// The message of a 400: names the parameter and the allowed range, not the value given.
    var problem: String {
        "\(name) must be an integer from 1 to \(maximum), given at most once (digits only, no sign or leading zero)"
    }

    /// The requested count, or nil when the query asks for something else than a valid count.
    func value(inQuery query: Substring?) -> Int? {
        var found: Int?? = .none
        for pair in (query ?? "").split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard QueryString.percentDecoded(parts[0]) == name else { continue }
            guard found == nil else { return nil }  // given twice
            found = .some(parts.count == 2 ? QueryString.percentDecoded(parts[1]).flatMap(canonical) : nil)
        }
        switch found {
        case .none: return defaultValue
        case .some(let value): return value
        }
    }

    /// `[1-9][0-9]*` up to `maximum`: a canonical integer (`ReportParameter.canonicalInteger`) from 1.
    private func canonical(_ text: String) -> Int? {
        ReportParameter.canonicalInteger(text).flatMap { (1...Int64(maximum)).contains($0) ? Int($0) : nil }
    }
}
