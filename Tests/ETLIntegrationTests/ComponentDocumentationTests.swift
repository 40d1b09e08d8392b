import ETLCore
import Foundation
import Testing
@testable import etl

/// The README's component table says what the factories read: every key and every default, as
/// the factory (the one place a default is written) declares it.
struct ComponentDocumentationTests {
    /// README rows `| stage | `type` | keys… |`, by stage and type.
    static func documentedRows() throws -> [String: String] {
        let readme = try String(contentsOf: Subprocess.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        var rows: [String: String] = [:]
        for line in readme.split(separator: "\n") where line.hasPrefix("| ") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 4, ["extract", "transform", "load"].contains(cells[1]), cells[2].hasPrefix("`") else { continue }
            rows["\(cells[1]) \(cells[2].trimmingCharacters(in: CharacterSet(charactersIn: "`")))"] = cells[3...].joined(separator: "|")
        }
        return rows
    }

    @Test func everyComponentKeyAndDefaultIsDocumented() throws {
        let rows = try Self.documentedRows()
        let components = StandardComponents.registry.options()
        #expect(!components.isEmpty)
        for component in components {
            let name = "\(component.stage) \(component.type)"
            guard let row = rows[name] else {
                Issue.record("README's component table has no row for \(name)")
                continue
            }
            for option in component.options {
                guard let start = row.range(of: "`\(option.key)`") else {
                    Issue.record("README does not document \(name)'s key \(option.key)")
                    continue
                }
                // The key's clause: up to the next documented key.
                let rest = row[start.upperBound...]
                let clause = rest.range(of: ", `").map { rest[..<$0.lowerBound] } ?? rest
                if let value = option.defaultValue {
                    let forms = ["default \(value)", "default `\(value)`", "`\(value)` (default)"]
                    #expect(forms.contains { clause.contains($0) }, "README gives \(name)'s \(option.key) no default \(value): \(clause)")
                }
                if option.isSecret { #expect(clause.contains("secret"), "README does not say that \(name)'s \(option.key) is a secret") }
            }
        }
        let known = Set(components.map { "\($0.stage) \($0.type)" })
        #expect(Set(rows.keys).subtracting(known).isEmpty, "README documents components that do not exist: \(Set(rows.keys).subtracting(known))")
    }
}
