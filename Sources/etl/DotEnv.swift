import Foundation

/// Reads `KEY=VALUE` lines from a `.env` file so that `etl run` by hand sees the same settings as
/// `docker compose`. Variables already set in the environment win.
enum DotEnv {
    static func merged(_ environment: [String: String], path: String) -> [String: String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return environment }
        var result = environment
        for rawLine in text.split(whereSeparator: \.isNewline) {
            var line = rawLine.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            if line.hasPrefix("export ") { line.removeFirst("export ".count) }
            guard let separator = line.firstIndex(of: "=") else { continue }
            let key = line[..<separator].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: separator)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, let quote = value.first, quote == "\"" || quote == "'", value.last == quote {
                value = String(value.dropFirst().dropLast())
            }
            if result[key] == nil { result[key] = value }
        }
        return result
    }
}

extension [String: String] {
    /// An `ETL_…` setting; set but empty counts as unset (compose files pass `${NAME:-}`).
    func setting(_ name: String) -> String? {
        self[name].flatMap { $0.isEmpty ? nil : $0 }
    }
}
