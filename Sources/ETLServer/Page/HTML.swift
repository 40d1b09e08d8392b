/// Escaping and small formatting helpers for the server-rendered page.
enum HTML {
    /// Text for HTML content or a quoted attribute value: `& < > " '` become character references,
    /// and control characters, which HTML does not allow, a visible escape (`\n`, `\t`, `\0`,
    /// `\u{1B}`). With `keepingLineBreaks`, tabs and line feeds stay (for `<pre>` text).
    static func escape(_ text: String, keepingLineBreaks: Bool = false) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            if let reference = reference(scalar) {
                result += reference
            } else if isControl(scalar), !(keepingLineBreaks && (scalar == "\n" || scalar == "\t")) {
                result += controlEscape(scalar)
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// `escape(text)` for an SVG `<text>`, with control characters and the spaces at either end
    /// (which tell "Tee" from "Tee ") marked up as `<tspan class="mark">` so that they stand out.
    static func label(_ text: String) -> String {
        let scalars = Array(text.unicodeScalars)
        let first = scalars.firstIndex { $0 != " " } ?? scalars.count
        let last = scalars.lastIndex { $0 != " " } ?? -1
        var result = ""
        for (index, scalar) in scalars.enumerated() {
            if let reference = reference(scalar) {
                result += reference
            } else if isControl(scalar) {
                result += "<tspan class=\"mark\">\(controlEscape(scalar))</tspan>"
            } else if scalar == " ", index < first || index > last {
                result += "<tspan class=\"mark\">·</tspan>"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    private static func reference(_ scalar: Unicode.Scalar) -> String? {
        switch scalar {
        case "&": "&amp;"
        case "<": "&lt;"
        case ">": "&gt;"
        case "\"": "&quot;"
        case "'": "&#39;"
        default: nil
        }
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    private static func controlEscape(_ scalar: Unicode.Scalar) -> String {
        switch scalar {
        case "\n": #"\n"#
        case "\t": #"\t"#
        case "\r": #"\r"#
        case "\0": #"\0"#
        default: #"\u{"# + String(scalar.value, radix: 16, uppercase: true) + "}"
        }
    }

    /// `text` cut to about `width` columns (wide scripts and emoji count two), with an ellipsis.
    static func truncated(_ text: String, width: Int) -> String {
        var used = 0
        var end = text.startIndex
        for index in text.indices {
            let columns = isWide(text[index]) ? 2 : 1
            if used + columns > width - 1 {
                return String(text[..<end]) + "…"
            }
            used += columns
            end = text.index(after: index)
        }
        return text
    }

    private static func isWide(_ character: Character) -> Bool {
        guard let scalar = character.unicodeScalars.first else { return false }
        switch scalar.value {
        case 0x1100...0x115F, 0x2E80...0xA4CF, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60, 0x1F000...0x1FAFF, 0x20000...0x3FFFD:
            return true
        default:
            return scalar.properties.isEmojiPresentation
        }
    }

    /// `1234567` as `1,234,567`.
    static func grouped(_ number: Int) -> String {
        let digits = String(number.magnitude)
        var result = ""
        for (index, digit) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { result += "," }
            result.append(digit)
        }
        return number < 0 ? "-" + result : result
    }

    /// A duration in words: `42 s`, `3 min 5 s`, `2 h 5 min`.
    static func duration(_ seconds: Double) -> String {
        let whole = max(0, Int(seconds.rounded()))
        switch whole {
        case ..<60: return "\(whole) s"
        case ..<3600: return "\(whole / 60) min \(whole % 60) s"
        case ..<86_400: return "\(whole / 3600) h \(whole % 3600 / 60) min"
        default: return "\(whole / 86_400) d \(whole % 86_400 / 3600) h"
        }
    }
}
